// Starts Swagger UI on /docs. It is a file, not an inline script, so the
// page's Content-Security-Policy can keep script-src 'self'.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  // #/tag/operationId links open that operation.
  deepLinking: true,
  // The lookups are safe to run: their fields are prefilled with the
  // document's examples, so Execute answers without typing anything.
  tryItOutEnabled: true,
  // Never ask validator.swagger.io about the document (its badge is only
  // in the standalone layout, unused here; this keeps it off regardless).
  validatorUrl: null,
  // Without the standalone preset there is no top bar to load any other
  // document (and ?url= / ?configUrl= stay ignored: queryConfigEnabled is
  // off by default).
  presets: [SwaggerUIBundle.presets.apis],
  displayRequestDuration: true,
  defaultModelsExpandDepth: 0,
});
