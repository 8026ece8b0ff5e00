package main

// The deployment files in deploy/ name the binary's flags, ports, paths and
// config keys. These tests read both sides — the files, and the binary's
// flags, config loader and HTTP routes — so that neither drifts from the
// other. No kubectl, no docker, no systemd.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/providers/registry"
	"github.com/specscale/specscale/scaler"
)

const deployDir = "../../deploy"

// Just enough of the Kubernetes objects to check them.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       yaml.Node         `yaml:"spec"`
	Resources  []string          `yaml:"resources"` // a Kustomization
}

type deploymentSpec struct {
	Replicas int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
		RunAsUser    int  `yaml:"runAsUser"`
		FSGroup      int  `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []volume    `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	StartupProbe    *probe `yaml:"startupProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type keyPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name  string    `yaml:"name"`
		Items []keyPath `yaml:"items"`
	} `yaml:"configMap"`
	Secret *struct {
		SecretName  string    `yaml:"secretName"`
		DefaultMode int       `yaml:"defaultMode"`
		Items       []keyPath `yaml:"items"`
	} `yaml:"secret"`
}

type serviceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort string `yaml:"targetPort"`
	} `yaml:"ports"`
}

type pdbSpec struct {
	MinAvailable int `yaml:"minAvailable"`
	Selector     struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
}

// readObjects parses every document of every YAML file in dir, by
// "Kind/name", and the file each came from.
func readObjects(t *testing.T, dir string) (map[string]*k8sObject, map[string]string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	objs, from := map[string]*k8sObject{}, map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(false)
		for {
			o := &k8sObject{}
			if err := dec.Decode(o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.APIVersion == "" {
				t.Fatalf("%s: a document without kind or apiVersion", f)
			}
			key := o.Kind + "/" + o.Metadata.Name
			if _, dup := objs[key]; dup {
				t.Fatalf("%s: %s defined twice", f, key)
			}
			objs[key], from[key] = o, filepath.Base(f)
		}
	}
	return objs, from
}

func decodeSpec(t *testing.T, o *k8sObject, into any) {
	t.Helper()
	if err := o.Spec.Decode(into); err != nil {
		t.Fatalf("%s/%s spec: %v", o.Kind, o.Metadata.Name, err)
	}
}

func mustGet(t *testing.T, objs map[string]*k8sObject, key string) *k8sObject {
	t.Helper()
	o, ok := objs[key]
	if !ok {
		t.Fatalf("no %s in deploy/kubernetes", key)
	}
	return o
}

// runFlags parses args as `specscale <args>` would, with the real run
// command, and returns its --config and --data-dir.
func runFlags(t *testing.T, args []string) (configPath, dataDir string) {
	t.Helper()
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("args %q: want the run command first", args)
	}
	cmd := newRunCmd()
	if err := cmd.ParseFlags(args[1:]); err != nil {
		t.Fatalf("args %q: %v", args, err)
	}
	if rest := cmd.Flags().Args(); len(rest) != 0 {
		t.Fatalf("args %q: stray arguments %q", args, rest)
	}
	configPath, _ = cmd.Flags().GetString("config")
	dataDir, _ = cmd.Flags().GetString("data-dir")
	return configPath, dataDir
}

// loadConfig loads a config file with every built-in provider type, and
// fails on any error.
func loadConfig(t *testing.T, file string) *config.Config {
	t.Helper()
	cfg, diags := scaler.LoadConfig(file, "", registry.Builtin())
	if diags.HasErrors() {
		t.Fatalf("%s does not load:\n%s", file, diags.Errors())
	}
	for _, w := range diags.Warnings() {
		t.Logf("warning: %s", w)
	}
	return cfg
}

// secretFiles lists every file the config reads a secret from, and envs
// every environment variable.
func secretRefs(cfg *config.Config) (files, envs []string) {
	add := func(f string) {
		if f != "" {
			files = append(files, f)
		}
	}
	add(cfg.NATS.CredentialsFile)
	if tok := cfg.NATS.Token; tok != nil {
		add(tok.File)
		if tok.Env != "" {
			envs = append(envs, tok.Env)
		}
	}
	for _, s := range cfg.Sources {
		h := s.HTTPConfig
		if h.Authorization != nil {
			add(h.Authorization.CredentialsFile)
		}
		if h.BasicAuth != nil {
			add(h.BasicAuth.PasswordFile)
		}
		add(h.BearerTokenFile)
		add(h.TLSConfig.CAFile)
		add(h.TLSConfig.CertFile)
		add(h.TLSConfig.KeyFile)
	}
	for _, p := range cfg.Providers {
		for _, ref := range p.Credentials {
			add(ref.File)
			if ref.Env != "" {
				envs = append(envs, ref.Env)
			}
		}
	}
	sort.Strings(files)
	sort.Strings(envs)
	return files, envs
}

func portOf(t *testing.T, listen string) int {
	t.Helper()
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("http.listen %q: %v", listen, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("http.listen %q is loopback: probes and Prometheus cannot reach it", listen)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("http.listen %q: %v", listen, err)
	}
	return p
}

// The Kubernetes manifests: a Deployment of two replicas whose args, ports,
// probes, mounts and secrets match what the binary and its config use; a
// ConfigMap whose config loads; a Secret with every key referenced; a
// Service whose scrape annotations name /metrics on the container's port.
func TestKubernetesManifests(t *testing.T) {
	dir := filepath.Join(deployDir, "kubernetes")
	objs, from := readObjects(t, dir)

	kust := mustGet(t, objs, "Kustomization/")
	var listed []string
	for key, f := range from {
		if key != "Kustomization/" {
			listed = append(listed, f)
		}
	}
	slices.Sort(listed)
	listed = slices.Compact(listed)
	res := slices.Clone(kust.Resources)
	slices.Sort(res)
	if !slices.Equal(res, listed) {
		t.Errorf("kustomization.yaml lists %v, want every manifest %v", res, listed)
	}

	dep := mustGet(t, objs, "Deployment/specscale")
	var ds deploymentSpec
	decodeSpec(t, dep, &ds)
	if ds.Replicas != 2 {
		t.Errorf("Deployment replicas = %d, want 2", ds.Replicas)
	}
	for k, v := range ds.Selector.MatchLabels {
		if ds.Template.Metadata.Labels[k] != v {
			t.Errorf("the Deployment's selector %s=%s does not match its pods", k, v)
		}
	}
	pod := ds.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", pod.SecurityContext)
	}
	if ape := c.SecurityContext.AllowPrivilegeEscalation; ape == nil || *ape || !c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext: want allowPrivilegeEscalation false and a read-only root filesystem")
	}
	configPath, _ := runFlags(t, c.Args)

	// Lay the container's files out under root, as the kubelet would.
	root := t.TempDir()
	mounts := map[string]string{} // volume → mount path
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	secretMounts := map[string]bool{}
	for _, v := range pod.Volumes {
		mp, ok := mounts[v.Name]
		if !ok {
			t.Errorf("volume %s is not mounted", v.Name)
			continue
		}
		var data map[string]string
		var items []keyPath
		switch {
		case v.ConfigMap != nil:
			data, items = mustGet(t, objs, "ConfigMap/"+v.ConfigMap.Name).Data, v.ConfigMap.Items
		case v.Secret != nil:
			data, items = mustGet(t, objs, "Secret/"+v.Secret.SecretName).StringData, v.Secret.Items
			secretMounts[mp] = true
			if v.Secret.DefaultMode&0o004 != 0 || (v.Secret.DefaultMode&0o040 != 0 && pod.SecurityContext.FSGroup == 0) {
				t.Errorf("secret volume %s: mode %o is readable by others, or by a group the pod is not in", v.Name, v.Secret.DefaultMode)
			}
		default:
			t.Errorf("volume %s: neither a ConfigMap nor a Secret", v.Name)
			continue
		}
		if items == nil {
			for k := range data {
				items = append(items, keyPath{k, k})
			}
		}
		for _, it := range items {
			content, ok := data[it.Key]
			if !ok {
				t.Errorf("volume %s maps key %q, which its source does not have", v.Name, it.Key)
				continue
			}
			p := filepath.Join(root, mp, it.Path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, configPath)); err != nil {
		t.Fatalf("--config %s: no such file in the container: %v", configPath, err)
	}
	cfg := loadConfig(t, filepath.Join(root, configPath))
	if cfg.NATS.URL == "" || cfg.NATS.Replicas != 3 {
		t.Errorf("nats: url %q, replicas %d; want an external cluster with 3 replicas", cfg.NATS.URL, cfg.NATS.Replicas)
	}
	if got := len(cfg.Loaded); got == 0 {
		t.Error("the ConfigMap's config loads no policy")
	}

	// Secrets: every file the config reads is mounted from the Secret, and
	// every environment variable comes from a key the Secret has.
	files, envs := secretRefs(cfg)
	if len(files) == 0 {
		t.Error("the config reads no secret file; expected the NATS token at least")
	}
	for _, f := range files {
		under := false
		for mp := range secretMounts {
			under = under || strings.HasPrefix(f, mp+"/")
		}
		if _, err := os.Stat(filepath.Join(root, f)); err != nil || !under {
			t.Errorf("the config reads %s, which no Secret volume provides", f)
		}
	}
	secret := mustGet(t, objs, "Secret/specscale-credentials")
	for _, name := range envs {
		found := false
		for _, e := range c.Env {
			if e.Name != name {
				continue
			}
			found = true
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != secret.Metadata.Name {
				t.Errorf("env %s: want it from the Secret %s", name, secret.Metadata.Name)
			} else if _, ok := secret.StringData[e.ValueFrom.SecretKeyRef.Key]; !ok {
				t.Errorf("env %s: the Secret has no key %q", name, e.ValueFrom.SecretKeyRef.Key)
			}
		}
		if !found {
			t.Errorf("the config reads env %s, which the container does not set", name)
		}
	}

	// Ports and paths.
	httpPort := portOf(t, cfg.HTTP.Listen)
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != httpPort {
		t.Errorf("containerPort http = %d, want http.listen's port %d", ports["http"], httpPort)
	}
	resolve := func(port string) int {
		if n, err := strconv.Atoi(port); err == nil {
			return n
		}
		return ports[port]
	}
	probes := map[string]*probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
	want := map[string]string{"readiness": "/readyz", "liveness": "/healthz", "startup": "/healthz"}
	var served []string
	for kind, p := range probes {
		if p == nil {
			t.Errorf("no %s probe", kind)
			continue
		}
		if p.HTTPGet.Path != want[kind] || resolve(p.HTTPGet.Port) != httpPort {
			t.Errorf("%s probe: GET %s on port %s, want %s on %d", kind, p.HTTPGet.Path, p.HTTPGet.Port, want[kind], httpPort)
		}
		served = append(served, p.HTTPGet.Path)
	}
	grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second
	if grace < cfg.Fleet.ShutdownGrace+15*time.Second {
		t.Errorf("terminationGracePeriodSeconds %s: want fleet.shutdown_grace %s plus 15s for the rest of the shutdown", grace, cfg.Fleet.ShutdownGrace)
	}

	svc := mustGet(t, objs, "Service/specscale")
	var ss serviceSpec
	decodeSpec(t, svc, &ss)
	for k, v := range ss.Selector {
		if ds.Template.Metadata.Labels[k] != v {
			t.Errorf("the Service's selector %s=%s matches no pod", k, v)
		}
	}
	if len(ss.Ports) != 1 || resolve(ss.Ports[0].TargetPort) != httpPort {
		t.Errorf("Service ports %+v: want one, to the container's http port %d", ss.Ports, httpPort)
	}
	ann := svc.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(httpPort) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("Service annotations %v: want scrape true, port %d, path /metrics", ann, httpPort)
	}
	served = append(served, ann["prometheus.io/path"])

	pdb := mustGet(t, objs, "PodDisruptionBudget/specscale")
	var ps pdbSpec
	decodeSpec(t, pdb, &ps)
	if ps.MinAvailable != 1 || !mapsMatch(ps.Selector.MatchLabels, ds.Template.Metadata.Labels) {
		t.Errorf("PodDisruptionBudget %+v: want minAvailable 1 over the Deployment's pods", ps)
	}
	for key, o := range objs {
		if key != "Kustomization/" && o.Kind != "Namespace" && o.Metadata.Namespace != dep.Metadata.Namespace {
			t.Errorf("%s is in namespace %q, the Deployment in %q", key, o.Metadata.Namespace, dep.Metadata.Namespace)
		}
	}

	checkServed(t, served)

	// The image runs the same command by default.
	df := readDockerfile(t)
	if !slices.Equal(df.cmd, c.Args) {
		t.Errorf("Dockerfile CMD %q, Deployment args %q: want the same", df.cmd, c.Args)
	}
	if df.expose != httpPort {
		t.Errorf("Dockerfile EXPOSE %d, want %d", df.expose, httpPort)
	}
}

func mapsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

type dockerfile struct {
	stages     int
	user       string
	entrypoint []string
	cmd        []string
	expose     int
	text       string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := dockerfile{text: string(b)}
	// Join continued lines.
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			df.stages++
		case "USER":
			df.user = rest
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &df.entrypoint); err != nil {
				t.Fatalf("Dockerfile ENTRYPOINT %s: want the exec form: %v", rest, err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(rest), &df.cmd); err != nil {
				t.Fatalf("Dockerfile CMD %s: want the exec form: %v", rest, err)
			}
		case "EXPOSE":
			df.expose, _ = strconv.Atoi(strings.TrimSuffix(rest, "/tcp"))
		}
	}
	return df
}

// The Dockerfile: multi-stage, a static binary, a non-root user, and a
// default command the binary accepts.
func TestDockerfile(t *testing.T) {
	df := readDockerfile(t)
	if df.stages < 2 {
		t.Errorf("%d stages, want a build stage and a runtime stage", df.stages)
	}
	if !strings.Contains(df.text, "CGO_ENABLED=0") || !strings.Contains(df.text, "./cmd/specscale") {
		t.Error("the build stage does not build ./cmd/specscale with CGO_ENABLED=0 (a static binary)")
	}
	uid, _, _ := strings.Cut(df.user, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %q: want a non-root user", df.user)
	}
	if len(df.entrypoint) != 1 || path.Base(df.entrypoint[0]) != "specscale" {
		t.Errorf("ENTRYPOINT %q: want the specscale binary", df.entrypoint)
	}
	if !strings.Contains(df.text, "COPY --from=build /out/specscale "+df.entrypoint[0]) {
		t.Errorf("the binary is not copied to the ENTRYPOINT's path %s", df.entrypoint[0])
	}
	runFlags(t, df.cmd)
}

// unit is a systemd unit file: key → values, by section.
type unit map[string]map[string][]string

func readUnit(t *testing.T, file string) unit {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: cannot read %q", file, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s: %d values, want 1", section, key, len(v))
	}
	return v[0]
}

// The systemd unit: its command parses, the config it names (the example
// it installs) loads, every credential the config reads is loaded by the
// unit and none else, the stop timeout covers the shutdown grace, and the
// usual hardening is on.
func TestSystemdUnit(t *testing.T) {
	u := readUnit(t, filepath.Join(deployDir, "systemd", "specscale.service"))
	exec := strings.Fields(u.one(t, "Service", "ExecStart"))
	if path.Base(exec[0]) != "specscale" {
		t.Errorf("ExecStart runs %s", exec[0])
	}
	configPath, dataDir := runFlags(t, exec[1:])
	if configPath != "/etc/specscale/specscale.yaml" || !strings.HasPrefix(dataDir, "/var/lib/specscale") {
		t.Errorf("--config %s --data-dir %s: want the installed config and the StateDirectory", configPath, dataDir)
	}
	cfg := loadConfig(t, filepath.Join(deployDir, "examples", "production.yaml"))
	if cfg.NATS.Replicas != 3 {
		t.Errorf("nats.replicas = %d in the production example, want 3", cfg.NATS.Replicas)
	}
	portOf(t, cfg.HTTP.Listen)

	const credDir = "/run/credentials/specscale.service/"
	loaded := map[string]bool{}
	for _, lc := range u["Service"]["LoadCredential"] {
		name, _, _ := strings.Cut(lc, ":")
		loaded[name] = true
	}
	files, envs := secretRefs(cfg)
	if len(envs) != 0 {
		t.Errorf("the production example reads secrets from the environment %v: under systemd, use LoadCredential files", envs)
	}
	used := map[string]bool{}
	for _, f := range files {
		name, ok := strings.CutPrefix(f, credDir)
		if !ok || !loaded[name] {
			t.Errorf("the config reads %s, which no LoadCredential= provides", f)
		}
		used[name] = true
	}
	for name := range loaded {
		if !used[name] {
			t.Errorf("LoadCredential=%s is read by nothing in the config", name)
		}
	}

	stop, err := time.ParseDuration(u.one(t, "Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	if stop < cfg.Fleet.ShutdownGrace+15*time.Second {
		t.Errorf("TimeoutStopSec %s: want fleet.shutdown_grace %s plus 15s", stop, cfg.Fleet.ShutdownGrace)
	}
	if r := u.one(t, "Service", "ExecReload"); !strings.Contains(r, "-HUP") {
		t.Errorf("ExecReload %q: the daemon reloads on SIGHUP", r)
	}
	for k, v := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "DynamicUser": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
		"ProtectKernelTunables": "yes", "ProtectControlGroups": "yes", "SystemCallArchitectures": "native",
	} {
		if got := u["Service"][k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
}

// The 3-node NATS cluster: each node's config parses with nats-server's own
// parser, runs JetStream with fsync on every write, routes to all three,
// and serves clients on the port the specscale configs use.
func TestNATSClusterConfig(t *testing.T) {
	t.Setenv("SPECSCALE_NATS_TOKEN", "test-token")
	files, err := filepath.Glob(filepath.Join(deployDir, "nats", "nats-*.conf"))
	if err != nil || len(files) != 3 {
		t.Fatalf("%d node configs (%v), want 3", len(files), err)
	}
	names := map[string]bool{}
	var clientPort int
	var routeHosts []string
	for i, f := range files {
		o, err := server.ProcessConfigFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		names[o.ServerName] = true
		if !o.JetStream || !o.SyncAlways || o.StoreDir == "" {
			t.Errorf("%s: JetStream %v, sync always %v, store %q; want JetStream on disk, synced", f, o.JetStream, o.SyncAlways, o.StoreDir)
		}
		if o.Cluster.Name != "specscale" || len(o.Routes) != 3 {
			t.Errorf("%s: cluster %q with %d routes, want specscale with 3", f, o.Cluster.Name, len(o.Routes))
		}
		if o.Authorization == "" {
			t.Errorf("%s: no client token", f)
		}
		var hosts []string
		for _, r := range o.Routes {
			hosts = append(hosts, r.Hostname())
			if r.Port() != strconv.Itoa(o.Cluster.Port) {
				t.Errorf("%s: route %s, but the cluster listens on %d", f, r, o.Cluster.Port)
			}
		}
		if i == 0 {
			clientPort, routeHosts = o.Port, hosts
		} else if o.Port != clientPort || !slices.Equal(hosts, routeHosts) {
			t.Errorf("%s: client port %d, routes %v; the first node has %d, %v", f, o.Port, hosts, clientPort, routeHosts)
		}
	}
	if len(names) != 3 {
		t.Errorf("server names %v, want three distinct", names)
	}
	// The systemd example reaches all three nodes on their client port.
	cfg := loadConfig(t, filepath.Join(deployDir, "examples", "production.yaml"))
	var urlHosts []string
	for _, s := range strings.Split(cfg.NATS.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			t.Fatal(err)
		}
		urlHosts = append(urlHosts, u.Hostname())
		if u.Port() != strconv.Itoa(clientPort) {
			t.Errorf("nats.url %s: port %s, the nodes listen on %d", s, u.Port(), clientPort)
		}
	}
	if !slices.Equal(urlHosts, routeHosts) {
		t.Errorf("nats.url names %v, the cluster %v", urlHosts, routeHosts)
	}
	// So does the Kubernetes one, through a Service.
	objs, _ := readObjects(t, filepath.Join(deployDir, "kubernetes"))
	cm := mustGet(t, objs, "ConfigMap/specscale-config")
	var kcfg struct {
		NATS struct {
			URL string `yaml:"url"`
		} `yaml:"nats"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["specscale.yaml"]), &kcfg); err != nil {
		t.Fatal(err)
	}
	if u, err := url.Parse(kcfg.NATS.URL); err != nil || u.Port() != strconv.Itoa(clientPort) {
		t.Errorf("the ConfigMap's nats.url %q: want port %d", kcfg.NATS.URL, clientPort)
	}
}

// checkServed runs a daemon and GETs each path: the probes and the scrape
// path must be routes the binary serves.
func checkServed(t *testing.T, paths []string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "specscale.yaml")
	files := map[string]string{
		cfg: fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
nats: {embedded: {data_dir: %q}}
providers:
  - name: sim
    type: simulated
    options: {instances: [{id: web-1, values: {bandwidth_out: 10}}]}
policies: [policies.yaml]
`, filepath.Join(dir, "data")),
		filepath.Join(dir, "policies.yaml"): `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {synthetic: {base: 5}}
    min: 5
    max: 20
    up:   {threshold: 0.8, for: 1m, step: 10}
    down: {threshold: 0.2, for: 1h}
`,
	}
	for p, content := range files {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := scaler.New(scaler.Options{ConfigPath: cfg, Replica: "deploy-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready in 30s")
	}
	for _, p := range paths {
		resp, err := http.Get("http://" + d.HTTPAddr() + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
		}
		if p == "/metrics" && !strings.Contains(string(body), "specscale_lease_held") {
			t.Errorf("GET /metrics: no specscale_ metrics")
		}
	}
}
