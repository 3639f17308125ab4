package weather

import "strconv"

// WMOCondition returns English text for a WMO weather interpretation code
// as used by Open-Meteo's weather_code. Intensity variants share one text
// (51, 53 and 55 are all "Drizzle") to stay close to WeatherAPI's short
// condition texts. Unknown codes yield "Unknown (code N)" so the raw value
// is not lost in reports.
func WMOCondition(code int) string {
	// A switch rather than a package-level map keeps the package free of
	// mutable globals.
	switch code {
	case 0:
		return "Clear sky"
	case 1:
		return "Mainly clear"
	case 2:
		return "Partly cloudy"
	case 3:
		return "Overcast"
	case 45, 48:
		return "Fog"
	case 51, 53, 55:
		return "Drizzle"
	case 56, 57:
		return "Freezing drizzle"
	case 61, 63, 65:
		return "Rain"
	case 66, 67:
		return "Freezing rain"
	case 71, 73, 75:
		return "Snow"
	case 77:
		return "Snow grains"
	case 80, 81, 82:
		return "Rain showers"
	case 85, 86:
		return "Snow showers"
	case 95:
		return "Thunderstorm"
	case 96, 99:
		return "Thunderstorm with hail"
	default:
		return "Unknown (code " + strconv.Itoa(code) + ")"
	}
}
