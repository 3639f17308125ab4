package shipment

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want Location
		ok   bool
	}{
		{"Street 10, 75001 Paris, France", Location{PostalCode: "75001", City: "Paris", Country: "France"}, true},
		{"Street 20, 1000 Brussels, Belgium", Location{PostalCode: "1000", City: "Brussels", Country: "Belgium"}, true},
		{"1 Main St, SW1A 1AA London, United Kingdom", Location{PostalCode: "SW1A 1AA", City: "London", Country: "United Kingdom"}, true},
		{"  Street 9 ,  1016   Amsterdam ,  Netherlands ", Location{PostalCode: "1016", City: "Amsterdam", Country: "Netherlands"}, true},
		{"75001 Paris, France", Location{PostalCode: "75001", City: "Paris", Country: "France"}, true},
		{"Street 10, Paris, France", Location{}, false},     // no postal code
		{"Street 10, 75001, France", Location{}, false},     // no city
		{"Street 10, 75001 Paris, ", Location{}, false},     // no country
		{"Street 10 75001 Paris France", Location{}, false}, // no commas
		{"", Location{}, false},
		{"Street 10, 75001 Paris, 12345", Location{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseLocation(tt.addr)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v, %v", tt.addr, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMoney(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{"800", "800.00", false},
		{"19.99", "19.99", false},
		{"19.9", "19.90", false},
		{"0.01", "0.01", false},
		{" 25 ", "25.00", false},
		{"19.999", "", true},
		{"-1", "", true},
		{"1e3", "", true},
		{"abc", "", true},
		{"", "", true},
		{"1.", "", true},
		{".5", "", true},
		{"99999999999999999999", "", true},
	}
	for _, tt := range tests {
		m, err := ParseMoney(tt.in)
		if tt.err {
			if !errors.Is(err, ErrInvalidMoney) {
				t.Errorf("ParseMoney(%q) error = %v, want ErrInvalidMoney", tt.in, err)
			}
			continue
		}
		if err != nil || m.String() != tt.want {
			t.Errorf("ParseMoney(%q) = %s, %v; want %s", tt.in, m, err, tt.want)
		}
	}
}

func TestParseCSVErrors(t *testing.T) {
	t.Parallel()
	const header = "tracking_number,carrier,sender_address,receiver_address,article_name,article_quantity,article_price,SKU,status\n"
	const good = "TN1,DHL,\"S 1, 10115 Berlin, Germany\",\"S 2, 75001 Paris, France\",Laptop,1,800,LP1,in-transit\n"
	tests := []struct {
		name, csv string
		line      int
		column    string
	}{
		{"missing header column", "tracking_number,carrier\n", 1, "sender_address"},
		{"short row", header + good + "TN2,DHL,a,b,c\n", 3, "article_quantity"},
		{"bad quantity", header + good + "TN2,DHL,a,b,Mouse,two,25,M,x\n", 3, "article_quantity"},
		{"zero quantity", header + "TN2,DHL,a,b,Mouse,0,25,M,x\n", 2, "article_quantity"},
		{"bad price", header + "TN2,DHL,a,b,Mouse,1,2x5,M,x\n", 2, "article_price"},
		{"blank tracking", header + good + good + ",DHL,a,b,Mouse,1,25,M,x\n", 4, "tracking_number"},
		{"blank carrier", header + "TN2, ,a,b,Mouse,1,25,M,x\n", 2, "carrier"},
		{"conflicting status", header + good + "TN1,dhl,\"S 1, 10115 Berlin, Germany\",\"S 2, 75001 Paris, France\",Mouse,1,25,M,delivered\n", 3, "status"},
		{"unterminated quote", header + "TN2,\"DHL,a\n", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCSV(strings.NewReader(tt.csv))
			var ie *ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *ImportError", err)
			}
			if ie.Line != tt.line || ie.Column != tt.column {
				t.Errorf("error at line %d column %q (%v), want line %d column %q", ie.Line, ie.Column, err, tt.line, tt.column)
			}
		})
	}
}

func TestParseCSVGroupsRows(t *testing.T) {
	t.Parallel()
	in, err := ParseCSV(strings.NewReader("\ufeff\"Tracking_Number\",carrier,sender_address,receiver_address,article_name,article_quantity,article_price,sku,status\n" +
		"TN1,DHL,a,\"S 2, 75001 Paris, France\",Laptop,1,800,LP1,x\n" +
		"\n" +
		"TN1,dhl,a,\"S 2, 75001 Paris, France\",Mouse,2,19.99,M1,x\n" +
		"TN1,UPS,a,b,Cable,1,5,,y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 2 || len(in[0].Articles) != 2 || len(in[1].Articles) != 1 {
		t.Fatalf("got %+v", in)
	}
	if got := in[0].Articles[1]; got.Price.String() != "19.99" || got.Quantity != 2 {
		t.Errorf("second article = %+v", got)
	}
}
