package api

import (
	"bytes"
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDoc is written by hand next to the handlers rather than generated
// from them, so it can say what Go types cannot (examples, which headers
// appear when, the problem bodies of each status). openapi_test.go keeps it
// honest: it fails when a route and the document disagree, and validates
// real responses against it.
//
//go:embed openapi.json
var openAPIDoc []byte

// docsPage is the API reference: RapiDoc (vendored in api/docsui, served
// from this binary) rendering /openapi.json, with "Try" on every operation.
// Its script URL gets ?v=HASH when the server starts (see docsui.go).
//
//go:embed docs.html
var docsPage []byte

// docsCSP lets the docs page run only scripts from its own origin (RapiDoc;
// the page has no inline script) and fetch only from there: a browser then
// refuses anything a later edit might pull in from a CDN. style-src needs
// 'unsafe-inline' and nothing else: RapiDoc is a Lit web component whose
// templates put style="" attributes in its shadow roots (dozens, changing
// with the theme and the document, so hashes cannot pin them; without it
// Chromium refuses them and the page breaks, which TestDocsTryItOut sees).
// At worst that lets markup someone already injected restyle the page;
// scripts stay at 'self'. img-src data: is for RapiDoc's inline SVG icons.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; " +
	"connect-src 'self'; img-src 'self' data:; font-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// OpenAPI returns the API's OpenAPI 3.1 document, as served at
// GET /openapi.json. It is a copy: the served bytes cannot be changed
// through it.
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

// serveOpenAPI sends the document as application/json rather than the
// registered application/vnd.oai.openapi+json: browsers' JSON viewers,
// fetch().json(), curl | jq and code generators all recognise plain JSON,
// and the document states its own version in its "openapi" field.
func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}
