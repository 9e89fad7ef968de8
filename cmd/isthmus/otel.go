package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// defaultReplicaName is $POD_NAME, else the host name.
func defaultReplicaName() string {
	if name := os.Getenv("POD_NAME"); name != "" {
		return name
	}
	name, _ := os.Hostname()
	return name
}

// otelShutdownTimeout bounds the flush of the last spans at exit.
const otelShutdownTimeout = 5 * time.Second

// startTracing sends control-plane spans to the OTLP gRPC receiver at
// endpoint (plaintext); without an endpoint it returns a nil tracer. The
// returned function flushes and stops the exporter.
func startTracing(endpoint, replica string, logger *slog.Logger) (trace.Tracer, func(), error) {
	if endpoint == "" {
		return nil, func() {}, nil
	}
	exporter, err := otlptracegrpc.New(context.Background(),
		otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		return nil, nil, fmt.Errorf("--otel-endpoint: %w", err)
	}
	res := resource.NewSchemaless(semconv.ServiceName("isthmus"), semconv.ServiceInstanceID(replica))
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(res))
	logger.Info("sending control-plane traces", "otel_endpoint", endpoint)
	return provider.Tracer("github.com/isthmus-mesh/isthmus/xds/server"), func() {
		ctx, cancel := context.WithTimeout(context.Background(), otelShutdownTimeout)
		defer cancel()
		if err := provider.Shutdown(ctx); err != nil {
			logger.Warn("traces not flushed", "error", err)
		}
	}, nil
}

// isthmusVersion is the module version the binary was built from, as
// istioctl shows it; "dev" for a build from a work tree.
func isthmusVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}
