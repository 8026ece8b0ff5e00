package config

import "testing"

// scrape_job belongs to a Prometheus source only.
func TestScrapeJobNeedsPrometheus(t *testing.T) {
	c, diags := Load("testdata/scrape-job.yaml", LoadOptions{Providers: validators()})
	want := `testdata/scrape-job/p.yaml:10:42: policies[1].metric.scrape_job: only with a prometheus source; "pushed" is of type nats`
	if got := diags.String(); got != want {
		t.Errorf("diagnostics:\n%s\n\nwant:\n%s", got, want)
	}
	if len(c.Loaded) == 0 || c.Loaded[0].Metric.ScrapeJob != "node" {
		t.Errorf("scrape_job not decoded: %+v", c.Loaded)
	}
}
