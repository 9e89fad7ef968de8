package main

import "testing"

func TestNetworkGatewayFlag(t *testing.T) {
	var f networkGatewayFlag
	if err := f.Set("gcp=192.0.2.10:15443"); err != nil {
		t.Fatal(err)
	}
	if len(f) != 1 || f[0].Network != "gcp" || f[0].Address != "192.0.2.10" || f[0].Port != 15443 {
		t.Fatalf("parsed %+v", f)
	}
	for _, bad := range []string{"192.0.2.10:15443", "gcp=192.0.2.10", "=192.0.2.10:15443", "gcp=192.0.2.10:0", "gcp=:15443", "gcp=x:port"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("--network-gateway %q accepted", bad)
		}
	}
}
