package store

// shipmentKey identifies a shipment row: a struct, so no byte inside
// either field can make two shipments collide.
type shipmentKey struct{ carrierKey, trackingNumber string }
