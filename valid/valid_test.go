package valid

import (
	"errors"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		max  int
		want error
	}{
		{"ascii", "TN12345678", 64, nil},
		{"empty", "", 64, nil},
		{"exactly max", strings.Repeat("a", 64), 64, nil},
		{"one over", strings.Repeat("a", 65), 64, ErrTooLong},
		{"characters, not bytes", strings.Repeat("é", 64), 64, nil},
		{"multibyte one over", strings.Repeat("日", 65), 64, ErrTooLong},
		{"emoji", "📦 Paket", 64, nil},
		{"nul", "TN\x00", 64, ErrControl},
		{"tab", "a\tb", 64, ErrControl},
		{"newline", "a\nb", 64, ErrControl},
		{"del", "a\x7fb", 64, ErrControl},
		{"c1 control", "a\u0085b", 64, ErrControl},
		{"invalid byte", "TN\xff", 64, ErrInvalidUTF8},
		{"truncated sequence", "caf\xc3", 64, ErrInvalidUTF8},
		{"surrogate half", "\xed\xa0\x80", 64, ErrInvalidUTF8},
		{"overlong nul", "\xc0\x80", 64, ErrInvalidUTF8},
		{"replacement char is valid", "\ufffd", 64, nil},
		{"huge", strings.Repeat("x", 10<<20), 300, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Text(tt.in, tt.max)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Text = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Text = %v, want %v", err, tt.want)
			}
		})
	}
}
