package api

// registerWeb adds the Track & Trace page: GET / and GET /assets/*.
func (s *Server) registerWeb() {}
