package api

// routes registers every route of the API with its own middleware: this
// function is the API's table of contents, and openapi.json documents
// exactly these routes (routes_test.go holds the two to each other).
//
// Every route runs behind the middleware New installs for all: request id,
// metrics, request log, panic recovery, body limit and the request
// deadline (withDeadline), so a handler's reads are bounded without it
// doing anything.
func (s *Server) routes() {
	e := s.e
	limit := s.lookupLimiter()          // lookups per client
	s.tokenFails = s.tokenFailLimiter() // one count for both list routes
	site := mustLoadWebSite()
	docs := mustLoadDocsUI()

	// Shipments (shipments.go): lookups are public but rate-limited; the
	// listing exposes every address, so it needs a token when tokens are set.
	e.GET("/shipment/:carrier/:tracking_number", s.getShipment, limit)
	e.POST("/shipment/", s.lookupShipment, limit)
	e.POST("/shipment", s.lookupShipment, limit)
	e.GET("/shipment/", s.listShipments, s.requireToken)
	e.GET("/shipment", s.listShipments, s.requireToken)

	// Writes (write.go), when the caller has a writer: always behind a
	// write token (access.go), checked before the body is read, and with
	// their own body limit (WriteBodyLimit) instead of the lookups'.
	if s.cfg.Writer != nil {
		wl := bodyLimit(WriteBodyLimit, nil)
		e.PUT("/shipment/:carrier/:tracking_number", s.putShipment, s.requireWriteToken, wl)
		e.POST("/shipment/:carrier/:tracking_number/events", s.postShipmentEvents, s.requireWriteToken, wl)
		e.POST("/events", s.postEvents, s.requireWriteToken, wl)
	}

	// Webhooks (webhooks.go), when the caller stores them: behind an
	// admin token (constant-time, like the other scopes).
	if s.cfg.Webhooks != nil {
		a := s.requireAdminToken
		e.POST("/webhooks", s.createWebhook, a)
		e.GET("/webhooks", s.listWebhooks, a)
		e.GET("/webhooks/status", s.webhookStatus, a) // webhooks_status.go
		e.DELETE("/webhooks/:id", s.deleteWebhook, a)
		e.POST("/webhooks/:id/rotate", s.rotateWebhook, a)
		e.POST("/webhooks/:id/resume", s.resumeWebhook, a)
		e.GET("/webhooks/:id/deliveries", s.webhookDeliveries, a)
		e.POST("/webhooks/:id/deliveries/:delivery_id/redeliver", s.redeliverWebhook, a)
	}

	// Weather pipeline (api.go), when the caller runs one.
	if s.cfg.Weather != nil {
		e.GET("/weather/status", s.weatherStatus)
	}

	// Operations (api.go, metrics.go).
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if s.cfg.Metrics != nil {
		e.GET("/metrics", metricsHandler(s.cfg.Metrics, s.cfg.MetricsHelp))
	}

	// Reference (openapi.go, docsui.go): the document, the page that
	// renders it and the page's vendored viewer.
	e.GET("/openapi.json", serveOpenAPI)
	e.GET("/docs", docs.servePage)
	e.GET(docsAssetsPath+":name", docs.serveAsset)

	// Track & Trace page (web.go) and its assets.
	e.GET("/", site.serveIndex)
	e.GET("/assets/*", site.serveAsset)
}
