package shipment

import "testing"

func TestNormalizeTrackingNumber(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"TN12345678", "TN12345678"},
		{"tn12345678", "TN12345678"},
		{" tn 1234 5678\t", "TN12345678"},
		{"1z\u00a0999", "1Z999"},
	} {
		if got := NormalizeTrackingNumber(c.in); got != c.want {
			t.Errorf("NormalizeTrackingNumber(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
