package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

// requireToken guards the shipment list, which exposes every receiver's
// address: with tokens configured, a request needs one of them as a
// bearer token. Comparing SHA-256 digests in constant time, over every
// configured token, leaks neither a token's length nor which one matched.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	if len(s.tokenHashes) == 0 {
		return next
	}
	return func(c echo.Context) error {
		auth := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, token, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && token != "" {
			got := sha256.Sum256([]byte(strings.TrimSpace(token)))
			match := 0
			for _, want := range s.tokenHashes {
				match |= subtle.ConstantTimeCompare(got[:], want[:])
			}
			if match == 1 {
				return next(c)
			}
		}
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="shiptrack"`)
		return problem(http.StatusUnauthorized, "listing shipments needs an API token: send Authorization: Bearer <token>")
	}
}

func hashTokens(tokens []string) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for _, t := range tokens {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, sha256.Sum256([]byte(t)))
		}
	}
	return out
}

// lookupLimiter caps lookups per client so tracking numbers cannot be
// enumerated at full speed. Echo's limiter sets no headers itself, so the
// deny handler adds Retry-After.
func (s *Server) lookupLimiter() echo.MiddlewareFunc {
	if s.cfg.RateLimit <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	burst := s.cfg.RateBurst
	if burst <= 0 {
		burst = max(1, int(math.Ceil(s.cfg.RateLimit)))
	}
	retryAfter := strconv.Itoa(max(1, int(math.Ceil(1/s.cfg.RateLimit))))
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(s.cfg.RateLimit), Burst: burst, ExpiresIn: 3 * time.Minute,
	})
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store:               store,
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		ErrorHandler: func(echo.Context, error) error {
			return problem(http.StatusForbidden, "could not identify the client")
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set("Retry-After", retryAfter)
			return problem(http.StatusTooManyRequests, "too many lookups from this client; retry after "+retryAfter+"s")
		},
	})
}
