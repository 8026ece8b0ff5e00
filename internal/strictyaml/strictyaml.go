// Package strictyaml decodes a YAML node into a Go value strictly — an
// unknown or duplicate key is an error — and reports every problem at once,
// each with its line, column and the path to the field. yaml.v3's own
// Node.Decode neither rejects unknown keys nor keeps going after the first
// error, and config errors reported one at a time make operators play
// whack-a-mole.
package strictyaml

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Diagnostic is one problem found in a file.
type Diagnostic struct {
	File    string
	Line    int
	Col     int
	Path    string
	Msg     string
	Warning bool
}

func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", d.Line, d.Col)
	}
	b.WriteString(": ")
	if d.Warning {
		b.WriteString("warning: ")
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Diagnostics is every problem found, errors and warnings.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error, not a warning.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if !d.Warning {
			return true
		}
	}
	return false
}

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if !d.Warning {
			out = append(out, d)
		}
	}
	return out
}

// Warnings returns only the warnings.
func (ds Diagnostics) Warnings() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Warning {
			out = append(out, d)
		}
	}
	return out
}

// Sort orders diagnostics by file, line and column, keeping ties stable.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Err returns nil when there are no errors, or an error listing every error
// (warnings left out), one per line.
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &Error{Diagnostics: errs}
}

func (ds Diagnostics) String() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Error carries diagnostics as an error.
type Error struct{ Diagnostics Diagnostics }

func (e *Error) Error() string { return e.Diagnostics.String() }

// DiagnosticsOf returns the diagnostics inside err, or one diagnostic
// holding its text. An error joining several (errors.Join) gives the
// diagnostics of each, so that a validator mixing *Error and plain errors
// loses none of them.
func DiagnosticsOf(file string, err error) Diagnostics {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out Diagnostics
		for _, e := range j.Unwrap() {
			out = append(out, DiagnosticsOf(file, e)...)
		}
		return out
	}
	var se *Error
	if errors.As(err, &se) {
		return se.Diagnostics
	}
	return Diagnostics{{File: file, Msg: err.Error()}}
}

// NodeDecoder is implemented by types that decode themselves from a node.
// The returned error's text is reported at the node's position.
type NodeDecoder interface {
	DecodeNode(n *yaml.Node) error
}

// Decoder collects diagnostics for one file.
type Decoder struct {
	File  string
	Diags Diagnostics
}

// Errorf records an error at n.
func (d *Decoder) Errorf(n *yaml.Node, path, format string, args ...any) {
	d.add(n, path, false, format, args...)
}

// Warnf records a warning at n.
func (d *Decoder) Warnf(n *yaml.Node, path, format string, args ...any) {
	d.add(n, path, true, format, args...)
}

func (d *Decoder) add(n *yaml.Node, path string, warn bool, format string, args ...any) {
	diag := Diagnostic{File: d.File, Path: path, Msg: fmt.Sprintf(format, args...), Warning: warn}
	if n != nil {
		diag.Line, diag.Col = n.Line, n.Column
	}
	d.Diags = append(d.Diags, diag)
}

// Parse reads a YAML document. A syntax error becomes a diagnostic with the
// line yaml.v3 reports.
func Parse(file string, data []byte) (*yaml.Node, Diagnostics) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Diagnostics{syntaxDiagnostic(file, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, Diagnostics{{File: file, Line: 1, Col: 1, Msg: "empty document"}}
	}
	return doc.Content[0], nil
}

func syntaxDiagnostic(file string, err error) Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	d := Diagnostic{File: file, Msg: msg}
	// yaml.v3 says "line N: message".
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				d.Line, d.Col = n, 1
				d.Msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return d
}

// Decode decodes n into v (a non-nil pointer), recording every problem.
// path is the path of n, "" for the document root.
func (d *Decoder) Decode(n *yaml.Node, path string, v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("strictyaml: Decode needs a non-nil pointer")
	}
	d.decode(n, path, rv.Elem())
}

var (
	durationType          = reflect.TypeFor[time.Duration]()
	nodeType              = reflect.TypeFor[yaml.Node]()
	nodeDecoderType       = reflect.TypeFor[NodeDecoder]()
	textUnmarshalerType   = reflect.TypeFor[encoding.TextUnmarshaler]()
	legacyUnmarshalerType = reflect.TypeFor[legacyUnmarshaler]()
)

// legacyUnmarshaler is yaml.v2's interface, which prometheus/common's config
// types implement.
type legacyUnmarshaler interface {
	UnmarshalYAML(unmarshal func(any) error) error
}

// decodeLegacy decodes a type with its own yaml.v2-style unmarshaler,
// strictly: yaml.v3's KnownFields carries through such unmarshalers, so the
// node is re-encoded and decoded with it. Errors are reported at the node,
// with yaml's line numbers shifted to the file's.
func (d *Decoder) decodeLegacy(n *yaml.Node, path string, v any) {
	b, err := yaml.Marshal(n)
	if err != nil {
		d.Errorf(n, path, "%v", err)
		return
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
		for _, line := range strings.Split(msg, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			diag := Diagnostic{File: d.File, Line: n.Line, Col: n.Column, Path: path, Msg: line}
			if rest, ok := strings.CutPrefix(line, "line "); ok {
				if i := strings.Index(rest, ": "); i > 0 {
					if ln, err := strconv.Atoi(rest[:i]); err == nil {
						diag.Line, diag.Col = n.Line+ln-1, 1
						diag.Msg = rest[i+2:]
						if ln == 1 {
							diag.Col = n.Column
						}
					}
				}
			}
			d.Diags = append(d.Diags, diag)
		}
	}
}

func (d *Decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if v.CanAddr() {
		p := v.Addr()
		if p.Type().Implements(nodeDecoderType) {
			if err := p.Interface().(NodeDecoder).DecodeNode(n); err != nil {
				d.Errorf(n, path, "%v", err)
			}
			return
		}
		if v.Type() == nodeType {
			v.Set(reflect.ValueOf(*n))
			return
		}
		if p.Type().Implements(legacyUnmarshalerType) {
			d.decodeLegacy(n, path, p.Interface())
			return
		}
	}
	if v.Type() == durationType {
		d.decodeDuration(n, path, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
		return
	case reflect.Struct:
		d.decodeStruct(n, path, v)
		return
	case reflect.Map:
		d.decodeMap(n, path, v)
		return
	case reflect.Slice:
		d.decodeSlice(n, path, v)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			d.Errorf(n, path, "want a scalar, got %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.Errorf(n, path, "%v", err)
		}
		return
	}
	d.decodeScalar(n, path, v)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "a node"
}

func (d *Decoder) decodeDuration(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.Errorf(n, path, "want a duration such as 30s, 5m or 1h30m, got %s", kindName(n))
		return
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		d.Errorf(n, path, "%v", err)
		return
	}
	v.SetInt(int64(dur))
}

// ParseDuration accepts Prometheus durations (500ms, 30s, 5m, 1h30m, 7d, 2w)
// and Go durations (1.5h). Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if md, err := model.ParseDuration(s); err == nil {
		return time.Duration(md), nil
	}
	gd, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a duration such as 30s, 5m or 1h30m", s)
	}
	if gd < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return gd, nil
}

type fieldInfo struct {
	index []int
	name  string
}

func structFields(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Struct {
				for _, sub := range structFields(ft) {
					sub.index = append([]int{i}, sub.index...)
					out = append(out, sub)
				}
				continue
			}
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, fieldInfo{index: []int{i}, name: name})
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *Decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "want a mapping, got %s", kindName(n))
		return
	}
	fields := structFields(v.Type())
	byName := make(map[string]fieldInfo, len(fields))
	var names []string
	for _, f := range fields {
		byName[f.name] = f
		names = append(names, f.name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		f, ok := byName[k.Value]
		if !ok {
			d.Errorf(k, join(path, k.Value), "unknown field%s", suggest(k.Value, names))
			continue
		}
		if seen[k.Value] {
			d.Errorf(k, join(path, k.Value), "duplicate field")
			continue
		}
		seen[k.Value] = true
		d.decode(val, join(path, k.Value), v.FieldByIndex(f.index))
	}
}

func suggest(got string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if dd := editDistance(got, n); dd < bestD {
			best, bestD = n, dd
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *Decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "want a mapping, got %s", kindName(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		panic("strictyaml: map keys must be strings")
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.Errorf(k, join(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		ev := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, join(path, k.Value), ev)
		kv := reflect.New(v.Type().Key()).Elem()
		kv.SetString(k.Value)
		v.SetMapIndex(kv, ev)
	}
}

func (d *Decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, path, "want a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
	}
	v.Set(s)
}

func (d *Decoder) decodeScalar(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.Errorf(n, path, "want a %s, got %s", kindWord(v.Kind()), kindName(n))
		return
	}
	if isNull(n) {
		return
	}
	s := n.Value
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch s {
		case "true", "True", "TRUE":
			v.SetBool(true)
		case "false", "False", "FALSE":
			v.SetBool(false)
		default:
			d.Errorf(n, path, "want true or false, got %q", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, v.Type().Bits())
		if err != nil {
			d.Errorf(n, path, "want a whole number, got %q", s)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 0, v.Type().Bits())
		if err != nil {
			d.Errorf(n, path, "want a whole number not below 0, got %q", s)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), v.Type().Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.Errorf(n, path, "want a number, got %q", s)
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.Errorf(n, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(x))
	default:
		panic(fmt.Sprintf("strictyaml: unsupported kind %s at %s", v.Kind(), path))
	}
}

func kindWord(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Float32, reflect.Float64:
		return "number"
	default:
		if k >= reflect.Int && k <= reflect.Uint64 {
			return "whole number"
		}
	}
	return "scalar"
}

// Find follows keys through nested mappings and returns the value node at
// the end, or nil when a key is missing.
func Find(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil {
			return nil
		}
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// FindOr is Find, falling back to the deepest node that exists, so that an
// error about a missing field points at its parent.
func FindOr(n *yaml.Node, keys ...string) *yaml.Node {
	cur := n
	for i := range keys {
		next := Find(cur, keys[i])
		if next == nil {
			return cur
		}
		cur = next
	}
	return cur
}

// HasErrorsFor reports whether an error (not a warning) was recorded at or
// under path.
func (ds Diagnostics) HasErrorsFor(path string) bool {
	for _, d := range ds {
		if !d.Warning && (d.Path == path || strings.HasPrefix(d.Path, path+".") || strings.HasPrefix(d.Path, path+"[")) {
			return true
		}
	}
	return false
}
