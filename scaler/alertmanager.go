package scaler

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/providers"
)

// AlertmanagerPath is where the daemon receives Alertmanager's webhook.
const AlertmanagerPath = "/hooks/alertmanager"

// Notification is Alertmanager's webhook payload, version 4. It mirrors
// Alertmanager's own type (notify/webhook.Message) so that specscale does
// not import Alertmanager.
type Notification struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a notification. EndsAt is the zero time while
// the alert fires.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Alert and notification statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Key identifies one firing of an alert: its fingerprint and when it
// started. A repeat notification has the same key; the same alert firing
// again after it resolved has a new one.
func (a *Alert) Key() string {
	return a.Fingerprint + "@" + a.StartsAt.UTC().Format(time.RFC3339Nano)
}

// DecodeNotification decodes and checks a webhook body. Unknown fields
// are allowed (a newer Alertmanager may add some); a missing or wrong
// version, status, fingerprint or start time is an error that says which
// alert and field.
func DecodeNotification(body []byte) (*Notification, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var n Notification
	if err := dec.Decode(&n); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the notification")
	}
	if n.Version != "4" {
		return nil, fmt.Errorf("version %q: want \"4\" (Alertmanager's webhook payload version 4)", n.Version)
	}
	if n.Status != StatusFiring && n.Status != StatusResolved {
		return nil, fmt.Errorf("status %q: want firing or resolved", n.Status)
	}
	for i := range n.Alerts {
		a := &n.Alerts[i]
		switch {
		case a.Status != StatusFiring && a.Status != StatusResolved:
			return nil, fmt.Errorf("alerts[%d].status %q: want firing or resolved", i, a.Status)
		case a.Fingerprint == "":
			return nil, fmt.Errorf("alerts[%d].fingerprint: required", i)
		case a.StartsAt.IsZero():
			return nil, fmt.Errorf("alerts[%d].startsAt: required", i)
		}
	}
	return &n, nil
}

// NotificationResult is the webhook's answer: what each alert did.
type NotificationResult struct {
	Alerts int           `json:"alerts"`
	Boosts []BoostResult `json:"boosts"`
}

// HandleNotification turns a notification into boosts: every firing alert
// starts or extends a boost of each target of each rule it matches, and a
// resolved alert ends its boosts where the rule says end_on_resolve. It
// returns an error when anything could not be recorded or published, so
// that the webhook answers 5xx and Alertmanager sends it again; what was
// already done is recognised then by the alert's key.
func (m *BoostManager) HandleNotification(ctx context.Context, n *Notification) (NotificationResult, error) {
	rt := m.Runtime()
	names := make([]string, 0, len(rt.Policies))
	for name, p := range rt.Policies {
		if len(p.Boosts) > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := NotificationResult{Alerts: len(n.Alerts), Boosts: []BoostResult{}}
	var errs []error
	for i := range n.Alerts {
		a := &n.Alerts[i]
		for _, name := range names {
			p := rt.Policies[name]
			for ri := range p.Boosts {
				rule := &p.Boosts[ri]
				if !rule.Matches(a.Labels) {
					continue
				}
				key := "alert:" + a.Key() + ":" + p.Name + "/" + rule.Name
				alertname := a.Labels["alertname"]
				insts, why := rule.Instances(p, a.Labels)
				if why != "" {
					if a.Status == StatusFiring {
						res := BoostResult{Outcome: BoostRefused, Code: "not_target", Why: fmt.Sprintf("alert %s (%s), rule %s/%s: %s", alertname, a.Fingerprint, p.Name, rule.Name, why)}
						m.event(ctx, Event{Type: EventBoostRefused, Policy: p.Name, Reason: res.Why}, SourceAlertmanager, res.Code)
						out.Boosts = append(out.Boosts, res)
					}
					continue
				}
				for _, inst := range insts {
					t := providers.Target{Account: p.Targets.Provider, Resource: providers.Resource(p.Targets.Resource), Instance: inst}
					var res BoostResult
					var err error
					if a.Status == StatusFiring {
						res, err = m.Start(ctx, BoostRequest{Target: t, Policy: p.Name, Value: rule.To, For: rule.For, Key: key,
							Source: SourceAlertmanager, Rule: rule.Name, EndOnResolve: rule.EndOnResolve,
							Reason: fmt.Sprintf("alert %s (fingerprint %s) matched boost rule %s/%s", alertname, a.Fingerprint, p.Name, rule.Name)})
					} else {
						if !rule.EndOnResolve {
							continue
						}
						res, err = m.Resolve(ctx, t, key, fmt.Sprintf("alert %s (fingerprint %s) resolved", alertname, a.Fingerprint))
					}
					if err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", t, err))
						continue
					}
					out.Boosts = append(out.Boosts, res)
				}
			}
		}
	}
	return out, errors.Join(errs...)
}

// alertmanagerHandler serves POST /hooks/alertmanager. Order matters:
// the token is checked before the body is read, so an unauthenticated
// caller changes nothing and costs nothing; the body is bounded; the
// answer is 200 only once every boost is recorded in KV and its intent and
// timer are stored by JetStream.
func (d *Daemon) alertmanagerHandler(w http.ResponseWriter, r *http.Request) {
	code := http.StatusOK
	defer func() {
		if bm := d.boostMetrics; bm != nil {
			bm.Notifications.WithLabelValues(fmt.Sprint(code)).Inc()
		}
	}()
	fail := func(c int, msg string) {
		code = c
		http.Error(w, msg, c)
	}
	h := d.Config().Hooks.Alertmanager
	if h == nil {
		fail(http.StatusNotFound, "the alertmanager webhook is not configured (hooks.alertmanager)")
		return
	}
	if ok, err := checkBearer(r, h); err != nil {
		d.log.Error("alertmanager webhook: cannot read the token", zap.Error(err))
		fail(http.StatusInternalServerError, "the webhook's token cannot be read; see the daemon's log")
		return
	} else if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="specscale"`)
		fail(http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("notification larger than %d bytes (hooks.alertmanager.max_body_bytes)", h.MaxBodyBytes))
			return
		}
		fail(http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	n, err := DecodeNotification(body)
	if err != nil {
		fail(http.StatusBadRequest, "malformed notification: "+err.Error())
		return
	}
	bm := d.boosts.Load()
	if bm == nil {
		fail(http.StatusServiceUnavailable, "starting")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, err := bm.HandleNotification(ctx, n)
	if err != nil {
		// 5xx: Alertmanager retries, and what was done is recognised.
		d.log.Warn("alertmanager notification not fully recorded; asking for a retry", zap.String("group", n.GroupKey), zap.Error(err))
		c := http.StatusInternalServerError
		if errors.Is(err, errNotReady) {
			c = http.StatusServiceUnavailable
		}
		fail(c, "not recorded, send it again: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// checkBearer compares the request's bearer token with the configured
// one in constant time.
func checkBearer(r *http.Request, h *config.AlertmanagerHook) (bool, error) {
	want, err := h.Token.Resolve()
	if err != nil {
		return false, err
	}
	auth := r.Header.Get("Authorization")
	scheme, got, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false, nil
	}
	got = strings.TrimSpace(got)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1, nil
}
