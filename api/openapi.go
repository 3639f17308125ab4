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

// docsPage is the API reference: Swagger UI (vendored in api/docsui,
// served from this binary) rendering /openapi.json, with "Try it out" on
// every operation. Its asset URLs get ?v=HASH when the server starts (see
// docsui.go).
//
//go:embed docs.html
var docsPage []byte

// docsCSP is the least Swagger UI needs (TestDocsTryItOut runs it under
// this policy and fails on any violation). script-src 'self': the bundle
// and init.js are files here, the page has no inline script. style-src
// 'self' without 'unsafe-inline': swagger-ui.css is a file and React sets
// its style props through the DOM, which CSP does not police. img-src
// data: is for the icons swagger-ui.css inlines; connect-src 'self' for
// /openapi.json and "Execute". No font-src: Swagger UI loads no fonts. A
// browser then refuses anything a later edit might pull in from a CDN.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; img-src 'self' data:; " +
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
