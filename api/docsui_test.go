package api_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/api"
)

// TestDocsAssets checks how each file under /docs/assets/ is sent: the
// embedded gzip bytes to clients that accept gzip, the same file
// decompressed to those that do not, cached for a year only under the URL
// /docs links to, and revalidated with its ETag.
func TestDocsAssets(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(api.New(api.Config{Shipments: webFake(nil)}))
	t.Cleanup(srv.Close)
	// No transparent decompression: the test sees what the server sends.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(t *testing.T, target string, header map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}

	_, page := get(t, "/docs", nil)
	for _, a := range []struct {
		name, ctype, prefix string
		minSize             int
	}{
		{"swagger-ui-bundle.js", "text/javascript; charset=utf-8", "/*! For license information please see swagger-ui-bundle.js.LICENSE.txt */", 1_000_000},
		{"swagger-ui.css", "text/css; charset=utf-8", ".swagger-ui{", 100_000},
		{"init.js", "text/javascript; charset=utf-8", "// Starts Swagger UI on /docs.", 200},
	} {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			checkDocsAsset(t, get, page, a.name, a.ctype, a.prefix, a.minSize)
		})
	}
	if resp, _ := get(t, "/docs/assets/no-such-file.js", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown asset: status %d, want 404", resp.StatusCode)
	}
}

// checkDocsAsset checks one file of TestDocsAssets.
func checkDocsAsset(t *testing.T, get func(*testing.T, string, map[string]string) (*http.Response, []byte),
	page []byte, name, ctype, prefix string, minSize int) {
	t.Helper()
	unversioned := "/docs/assets/" + name
	src := regexp.MustCompile(`(?:src|href)="(` + regexp.QuoteMeta(unversioned) + `\?v=[0-9a-f]+)"`).FindSubmatch(page)
	if src == nil {
		t.Fatalf("/docs does not load %s: %s", name, page)
	}
	versioned := string(src[1])
	_, plain := get(t, versioned, nil)
	if !bytes.HasPrefix(plain, []byte(prefix)) || len(plain) < minSize {
		t.Fatalf("plain %s: %d bytes starting %.40q, want %.40q and at least %d bytes", name, len(plain), plain, prefix, minSize)
	}
	for _, tt := range []struct {
		name, target, acceptEncoding string
		gzipped                      bool
		cache                        string
	}{
		{"browser", versioned, "gzip, deflate, br, zstd", true, "public, max-age=31536000, immutable"},
		{"gzip only", versioned, "gzip", true, "public, max-age=31536000, immutable"},
		{"any coding", versioned, "*", true, "public, max-age=31536000, immutable"},
		{"no Accept-Encoding", versioned, "", false, "public, max-age=31536000, immutable"},
		{"gzip refused", versioned, "gzip;q=0, *", false, "public, max-age=31536000, immutable"},
		{"other codings", versioned, "br, identity", false, "public, max-age=31536000, immutable"},
		{"unversioned", unversioned, "gzip", true, "public, max-age=300"},
		{"old version", unversioned + "?v=000000000000", "", false, "public, max-age=300"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.acceptEncoding != "" {
				h["Accept-Encoding"] = tt.acceptEncoding
			}
			resp, body := get(t, tt.target, h)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for k, want := range map[string]string{
				"Content-Type":           ctype,
				"Cache-Control":          tt.cache,
				"Vary":                   "Accept-Encoding",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if got := resp.Header.Get("Content-Encoding"); (got == "gzip") != tt.gzipped {
				t.Errorf("Content-Encoding = %q, want gzip %v", got, tt.gzipped)
			}
			if tt.gzipped {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, plain) {
				t.Errorf("%d bytes (after decompression), want the %d of the plain file", len(body), len(plain))
			}
			// Revalidation with the ETag of this representation.
			etag := resp.Header.Get("ETag")
			h["If-None-Match"] = etag
			if again, _ := get(t, tt.target, h); again.StatusCode != http.StatusNotModified || etag == "" {
				t.Errorf("If-None-Match %s: status %d, want 304", etag, again.StatusCode)
			}
		})
	}
	// The two representations have different ETags, so a cache cannot
	// answer a plain request with gzip bytes.
	gz, _ := get(t, versioned, map[string]string{"Accept-Encoding": "gzip"})
	id, _ := get(t, versioned, nil)
	if a, b := gz.Header.Get("ETag"), id.Header.Get("ETag"); a == b || !strings.HasPrefix(a, `"`) || !strings.HasPrefix(b, `"`) {
		t.Errorf("ETags gzip %s, plain %s: want two different strong ETags", a, b)
	}
}
