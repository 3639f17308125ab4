package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/valid"
	"github.com/shiptrack/shiptrack/webhook"
)

// Webhooks is what the webhook admin routes (issue 16) need from the
// store. Unknown endpoints and deliveries are shipment.ErrNotFound.
// CreateWebhook and RotateWebhookSecret return the endpoint with its new
// secret; every other answer leaves Secret empty.
type Webhooks interface {
	CreateWebhook(ctx context.Context, url string, statuses, carriers []string) (webhook.Endpoint, error)
	Webhooks(ctx context.Context) ([]webhook.Endpoint, error)
	DeleteWebhook(ctx context.Context, id uint64) error
	RotateWebhookSecret(ctx context.Context, id uint64, overlap time.Duration) (webhook.Endpoint, error)
	WebhookDeliveries(ctx context.Context, endpointID, before uint64, limit int) ([]webhook.Delivery, error)
	RedeliverWebhook(ctx context.Context, endpointID uint64, deliveryID string) (webhook.Delivery, error)
	ResumeWebhook(ctx context.Context, id uint64) error
	// WebhookStatus is GET /webhooks/status's view at now.
	WebhookStatus(ctx context.Context, now time.Time) (webhook.Status, error)
}

// Limits of a subscription, as the columns have them.
const (
	maxWebhookURL      = 2048
	maxWebhookCarriers = 20
	maxFilterList      = 1000 // the joined list's column
)

// EndpointJSON is a webhook endpoint; Secret only in the answers to its
// creation and rotation.
type EndpointJSON struct {
	ID                  uint64   `json:"id"`
	URL                 string   `json:"url"`
	Secret              string   `json:"secret,omitempty"`
	Statuses            []string `json:"statuses"`
	Carriers            []string `json:"carriers"`
	CreatedAt           string   `json:"created_at"`
	PausedAt            *string  `json:"paused_at"`
	PauseReason         string   `json:"pause_reason"`
	ConsecutiveFailures int      `json:"consecutive_failures"`
	// PreviousSecretValidUntil, in the answer to a rotation, is when the
	// replaced secret stops signing.
	PreviousSecretValidUntil string `json:"previous_secret_valid_until,omitempty"`
}

// DeliveryJSON is one delivery and its latest attempt.
type DeliveryJSON struct {
	ID             string  `json:"id"`
	Type           string  `json:"type"`
	PreviousStatus string  `json:"previous_status"`
	Status         string  `json:"status"`
	State          string  `json:"state"`
	Attempts       int     `json:"attempts"`
	NextAttemptAt  *string `json:"next_attempt_at"`
	FirstAttemptAt *string `json:"first_attempt_at"`
	LastStatusCode int     `json:"last_status_code"`
	LastError      string  `json:"last_error"`
	LastDurationMs int64   `json:"last_duration_ms"`
	CreatedAt      string  `json:"created_at"`
	DeliveredAt    *string `json:"delivered_at"`
}

// DeliveriesJSON is a page of deliveries, newest first; NextCursor
// fetches the next (older) page, null on the last.
type DeliveriesJSON struct {
	Deliveries []DeliveryJSON `json:"deliveries"`
	NextCursor *string        `json:"next_cursor"`
}

func rfc3339Ptr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := rfc3339(*t)
	return &s
}

func endpointJSON(e webhook.Endpoint) EndpointJSON {
	return EndpointJSON{ID: e.ID, URL: e.URL, Secret: e.Secret, Statuses: nonNil(e.Statuses), Carriers: nonNil(e.Carriers),
		CreatedAt: rfc3339(e.CreatedAt), PausedAt: rfc3339Ptr(e.PausedAt), PauseReason: e.PauseReason, ConsecutiveFailures: e.Failures}
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func deliveryJSON(d webhook.Delivery) DeliveryJSON {
	return DeliveryJSON{ID: d.DeliveryID, Type: d.Type, PreviousStatus: d.PreviousStatus, Status: d.Status, State: d.State,
		Attempts: d.Attempts, NextAttemptAt: rfc3339Ptr(d.NextAttemptAt), FirstAttemptAt: rfc3339Ptr(d.FirstAttemptAt),
		LastStatusCode: d.LastStatusCode, LastError: d.LastError, LastDurationMs: d.LastDuration.Milliseconds(),
		CreatedAt: rfc3339(d.CreatedAt), DeliveredAt: rfc3339Ptr(d.DeliveredAt)}
}

// requireAdminToken guards the webhook routes: one of the admin tokens;
// a read or write token is the wrong scope.
func (s *Server) requireAdminToken(next echo.HandlerFunc) echo.HandlerFunc {
	return s.requireScope(scope{
		hashes: s.adminHashes,
		other: func(c echo.Context) bool {
			return bearerMatches(c, s.writeHashes) || len(s.tokenHashes) > 0 && bearerMatches(c, s.tokenHashes)
		},
		off:     "the webhook admin API is switched off: no admin tokens are configured (api.admin_tokens)",
		wrong:   "webhooks need an admin token",
		missing: "webhooks need an admin token: send Authorization: Bearer <token>",
	})(next)
}

type newEndpointBody struct {
	URL      *string  `json:"url"`
	Statuses []string `json:"statuses"`
	Carriers []string `json:"carriers"`
}

// decodeNewEndpoint reads and checks POST /webhooks' body, all but the
// URL's address policy.
func decodeNewEndpoint(body io.Reader) (newEndpointBody, error) {
	var in newEndpointBody
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, invalid(InvalidParam{Name: "body", Reason: "must be a JSON object with url, statuses and carriers: " + err.Error()})
	}
	if dec.More() {
		return in, invalid(InvalidParam{Name: "body", Reason: "must hold one JSON object"})
	}
	var bad []InvalidParam
	if in.URL == nil || *in.URL == "" {
		bad = append(bad, InvalidParam{Name: "url", Reason: "is required"})
	} else {
		bad = append(bad, checkTexts(field{"url", *in.URL, maxWebhookURL})...)
	}
	for i, st := range in.Statuses {
		if !shipment.IsStatus(st) {
			bad = append(bad, InvalidParam{Name: "statuses[" + strconv.Itoa(i) + "]", Reason: "must be one of " + strings.Join(shipment.Statuses, ", ")})
		}
	}
	if len(in.Carriers) > maxWebhookCarriers {
		bad = append(bad, InvalidParam{Name: "carriers", Reason: "at most " + strconv.Itoa(maxWebhookCarriers) + " carriers"})
	}
	for i, c := range in.Carriers {
		name := "carriers[" + strconv.Itoa(i) + "]"
		if p := checkTexts(field{name, c, valid.Carrier}); len(p) > 0 {
			bad = append(bad, p...)
		} else if strings.TrimSpace(c) == "" || strings.Contains(c, ",") {
			bad = append(bad, InvalidParam{Name: name, Reason: "must be a carrier name, without commas"})
		}
	}
	if len(strings.Join(in.Carriers, ",")) > maxFilterList {
		bad = append(bad, InvalidParam{Name: "carriers", Reason: "longer than " + strconv.Itoa(maxFilterList) + " characters together"})
	}
	if len(bad) > 0 {
		return in, invalid(bad...)
	}
	return in, nil
}

// createWebhook serves POST /webhooks: 201 with the endpoint and its
// secret, shown this once.
func (s *Server) createWebhook(c echo.Context) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	in, err := decodeNewEndpoint(c.Request().Body)
	if err != nil {
		return err
	}
	if err := s.cfg.WebhookPolicy.CheckURL(c.Request().Context(), *in.URL, nil); err != nil {
		return invalid(InvalidParam{Name: "url", Reason: err.Error()})
	}
	e, err := s.cfg.Webhooks.CreateWebhook(c.Request().Context(), *in.URL, in.Statuses, in.Carriers)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/webhooks/"+strconv.FormatUint(e.ID, 10))
	return c.JSON(http.StatusCreated, endpointJSON(e))
}

// listWebhooks serves GET /webhooks: every endpoint, no secrets.
func (s *Server) listWebhooks(c echo.Context) error {
	eps, err := s.cfg.Webhooks.Webhooks(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]EndpointJSON, len(eps))
	for i, e := range eps {
		e.Secret = ""
		out[i] = endpointJSON(e)
	}
	return c.JSON(http.StatusOK, map[string]any{"webhooks": out})
}

func webhookID(c echo.Context) (uint64, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, invalid(InvalidParam{Name: "id", Reason: "must be a webhook id (a positive whole number)"})
	}
	return id, nil
}

// deleteWebhook serves DELETE /webhooks/{id}: 204; its pending deliveries
// go with it.
func (s *Server) deleteWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Webhooks.DeleteWebhook(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// rotateWebhook serves POST /webhooks/{id}/rotate: a new secret, shown
// this once; the old one signs beside it for webhook.RotationOverlap.
func (s *Server) rotateWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	e, err := s.cfg.Webhooks.RotateWebhookSecret(c.Request().Context(), id, webhook.RotationOverlap)
	if err != nil {
		return err
	}
	out := endpointJSON(e)
	out.PreviousSecretValidUntil = rfc3339(s.cfg.Now().Add(webhook.RotationOverlap))
	return c.JSON(http.StatusOK, out)
}

// webhookDeliveries serves GET /webhooks/{id}/deliveries: newest first,
// ?limit (1 to 100, default 20) per page, ?cursor from the previous
// page's next_cursor.
func (s *Server) webhookDeliveries(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	limit := 20
	var bad []InvalidParam
	if v := c.QueryParam("limit"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 100 {
			bad = append(bad, InvalidParam{Name: "limit", Reason: "must be a whole number from 1 to 100"})
		} else {
			limit = n
		}
	}
	var before uint64
	if v := c.QueryParam("cursor"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err != nil || n == 0 {
			bad = append(bad, InvalidParam{Name: "cursor", Reason: "must be a next_cursor of an earlier page"})
		} else {
			before = n
		}
	}
	if len(bad) > 0 {
		return invalid(bad...)
	}
	ds, err := s.cfg.Webhooks.WebhookDeliveries(c.Request().Context(), id, before, limit+1)
	if err != nil {
		return err
	}
	out := DeliveriesJSON{Deliveries: make([]DeliveryJSON, 0, min(len(ds), limit))}
	for i, d := range ds {
		if i == limit {
			next := strconv.FormatUint(ds[limit-1].ID, 10)
			out.NextCursor = &next
			break
		}
		out.Deliveries = append(out.Deliveries, deliveryJSON(d))
	}
	return c.JSON(http.StatusOK, out)
}

// redeliverWebhook serves POST /webhooks/{id}/deliveries/{delivery_id}/
// redeliver: the delivery is pending again and due now, with the same id.
func (s *Server) redeliverWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	did := c.Param("delivery_id")
	if p := checkTexts(field{"delivery_id", did, 64}); len(p) > 0 {
		return invalid(p...)
	}
	d, err := s.cfg.Webhooks.RedeliverWebhook(c.Request().Context(), id, did)
	if errors.Is(err, shipment.ErrNotFound) {
		return problem(http.StatusNotFound, "no such delivery of this webhook")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, deliveryJSON(d))
}

// resumeWebhook serves POST /webhooks/{id}/resume: a paused endpoint is
// active again, its failure count zero; its pending deliveries go out.
func (s *Server) resumeWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Webhooks.ResumeWebhook(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
