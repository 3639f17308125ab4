package weather

import (
	"context"
	"errors"
	"net/http"
)

// PublicReason is a short, fixed description of a provider error, safe to
// show on a public endpoint: it never quotes the provider or the network
// (keys, internal addresses). The full error is for logs and metrics.
func PublicReason(err error) string {
	var ae *APIError
	isAPI := errors.As(err, &ae)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrRefused) && isAPI && ae.Code == 2007:
		return "provider quota exceeded"
	case errors.Is(err, ErrRefused) && isAPI && (ae.Code == 1005 || ae.StatusCode == http.StatusNotFound):
		return "provider endpoint not found"
	case errors.Is(err, ErrRefused):
		return "provider refused the key"
	case errors.Is(err, ErrLocationNotFound):
		return "location unknown to the provider"
	case errors.Is(err, ErrImplausible):
		return "provider answer implausible"
	case errors.Is(err, errMalformed):
		return "provider answer malformed"
	case errors.Is(err, context.DeadlineExceeded):
		return "provider timed out"
	case isAPI || errors.Is(err, errRetryable):
		return "provider error"
	case errors.Is(err, ErrTransient):
		return "provider unreachable"
	}
	return "provider error"
}
