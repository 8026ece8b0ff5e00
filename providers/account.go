package providers

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/specscale/specscale/internal/strictyaml"
)

// Account is one provider account from the daemon config. Options holds the
// provider-specific settings, still undecoded, so that each adapter decodes
// them strictly into its own typed struct and reports errors at their
// position.
type Account struct {
	Name     string
	Type     string
	Region   string
	Endpoint string
	// Credentials maps a credential's name (access_key_id, secret_access_key,
	// …) to where its value lives. Values are never inline.
	Credentials map[string]SecretRef
	// Timeout bounds every call to the provider.
	Timeout time.Duration
	// Options is the account's "options" mapping, or nil.
	Options *yaml.Node
	// File is the config file the account came from and Path the account's
	// place in it ("providers[2]"), for error positions.
	File string
	Path string
}

// SecretRef says where a credential lives: an environment variable or a
// file. Exactly one is set.
type SecretRef struct {
	Env  string `yaml:"env" json:"env,omitempty"`
	File string `yaml:"file" json:"file,omitempty"`
}

// Validate checks that exactly one source is named.
func (s SecretRef) Validate() error {
	switch {
	case s.Env == "" && s.File == "":
		return errors.New("want env: NAME or file: PATH (credentials are never inline)")
	case s.Env != "" && s.File != "":
		return errors.New("set env or file, not both")
	}
	return nil
}

// Resolve reads the secret. Errors name the source, never the value.
func (s SecretRef) Resolve() (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	if s.Env != "" {
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	}
	b, err := os.ReadFile(s.File)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("read secret file %s: %v", s.File, pe.Err)
		}
		return "", fmt.Errorf("read secret file %s: cannot read", s.File)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", s.File)
	}
	return v, nil
}

// Secret resolves the named credential of the account.
func (a Account) Secret(name string) (string, error) {
	ref, ok := a.Credentials[name]
	if !ok {
		return "", fmt.Errorf("provider %q: credentials.%s: missing", a.Name, name)
	}
	v, err := ref.Resolve()
	if err != nil {
		return "", fmt.Errorf("provider %q: credentials.%s: %w", a.Name, name, err)
	}
	return v, nil
}

// DecodeOptions decodes the account's options strictly into v (a pointer to
// the adapter's typed options). Every problem is reported with its file,
// line, column and path; the error is a *strictyaml.Error.
func (a Account) DecodeOptions(v any) error {
	if a.Options == nil {
		return nil
	}
	d := strictyaml.Decoder{File: a.File}
	d.Decode(a.Options, a.Path+".options", v)
	return d.Diags.Err()
}

// OptionsError reports a problem with one option at its position, so that
// adapter validation reads like the rest of the config's.
func (a Account) OptionsError(field, format string, args ...any) error {
	d := strictyaml.Decoder{File: a.File}
	n := a.Options
	if n != nil {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == field {
				n = n.Content[i+1]
				break
			}
		}
	}
	d.Errorf(n, a.Path+".options."+field, format, args...)
	return d.Diags.Err()
}

// DecodeNode decodes {env: NAME} or {file: PATH}. An inline value is refused
// without repeating it: it may be the secret itself.
func (s *SecretRef) DecodeNode(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("credentials are never inline: want {env: NAME} or {file: PATH}")
	}
	d := strictyaml.Decoder{}
	var raw struct {
		Env  string `yaml:"env"`
		File string `yaml:"file"`
	}
	d.Decode(n, "", &raw)
	if len(d.Diags) > 0 {
		return fmt.Errorf("%s: %s", d.Diags[0].Path, d.Diags[0].Msg)
	}
	*s = SecretRef(raw)
	return s.Validate()
}
