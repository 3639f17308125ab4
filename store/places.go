package store

import "gorm.io/gorm"

// Weather is kept per place (city and country), not per location (postal
// code, city and country): the provider is asked about the place, so two
// postal codes of one city would otherwise cost two identical calls. Every
// location points at the location whose weather row serves its place, the
// lowest id with the same place key.

// migratePlaces (migration 3) fills the place key of locations made
// before weather was shared per place, then links every location to its
// place's weather row. It is Go, not SQL, because the place key folds
// Unicode (placeKey). On a database already linked it changes nothing.
func migratePlaces(tx *gorm.DB) error {
	var rows []locationRow
	if err := tx.Select("id", "city", "country").Where("place_key = ''").Find(&rows).Error; err != nil {
		return err
	}
	for _, r := range rows {
		if err := tx.Model(&locationRow{}).Where("id = ?", r.ID).Update("place_key", r.location().PlaceKey()).Error; err != nil {
			return err
		}
	}
	return linkPlaces(tx)
}

// linkPlaces points every location at its place's weather row and drops
// weather rows that no longer serve a place (their locations now share
// another's). Re-linking all rows, not only new ones, also mends two
// imports that created the same place at once.
func linkPlaces(tx *gorm.DB) error {
	const first = "(SELECT MIN(p.id) FROM locations p WHERE p.place_key = locations.place_key)"
	if err := tx.Exec("UPDATE locations SET weather_location_id = " + first +
		" WHERE weather_location_id IS NULL OR weather_location_id <> " + first).Error; err != nil {
		return err
	}
	return tx.Exec("DELETE FROM weather WHERE location_id IN (SELECT id FROM locations WHERE weather_location_id <> id)").Error
}
