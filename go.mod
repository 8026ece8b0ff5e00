module github.com/specscale/specscale

go 1.26.8

require (
	github.com/prometheus/common v0.73.1
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/prometheus/client_model v0.6.3 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
