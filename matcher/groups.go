package matcher

import (
	"slices"
	"strings"
)

// groupDef is a location group as data: its name, whether clients show it first, the
// membership rule in words, and the ISO 3166-1 codes of the countries it contains.
type groupDef struct {
	name     string
	aliases  []string
	promoted bool
	rule     string
	members  string
}

// Membership of the UN geoscheme (UN M49, "Standard country or area codes for
// statistical use"), as code lists of the sub-regions and intermediate regions. Two
// places without an M49 code follow common practice: Taiwan (TW) is placed in Eastern
// Asia and Kosovo (XK) in Southern Europe. Antarctica (AQ) belongs to no region.
const (
	m49NorthernAfrica = "DZ EG LY MA SD TN EH"
	m49EasternAfrica  = "IO BI KM DJ ER ET TF KE MG MW MU YT MZ RE RW SC SO SS UG TZ ZM ZW"
	m49MiddleAfrica   = "AO CM CF TD CG CD GQ GA ST"
	m49SouthernAfrica = "BW SZ LS NA ZA"
	m49WesternAfrica  = "BJ BF CV CI GM GH GN GW LR ML MR NE NG SH SN SL TG"
	m49Caribbean      = "AI AG AW BS BB BQ VG KY CU CW DM DO GD GP HT JM MQ MS PR BL KN LC MF" +
		" VC SX TT TC VI"
	m49CentralAmerica  = "BZ CR SV GT HN MX NI PA"
	m49SouthAmerica    = "AR BO BV BR CL CO EC FK GF GY PY PE GS SR UY VE"
	m49NorthernAmerica = "BM CA GL PM US"
	m49CentralAsia     = "KZ KG TJ TM UZ"
	m49EasternAsia     = "CN HK MO KP JP MN KR TW"
	m49SouthEastAsia   = "BN KH ID LA MY MM PH SG TH TL VN"
	m49SouthernAsia    = "AF BD BT IN IR MV NP PK LK"
	m49WesternAsia     = "AM AZ BH CY GE IQ IL JO KW LB OM QA SA PS SY TR AE YE"
	m49EasternEurope   = "BY BG CZ HU PL MD RO RU SK UA"
	m49ChannelIslands  = "GG JE"
	m49NorthernEurope  = "AX DK EE FO FI IS IE IM LV LT NO SJ SE GB " + m49ChannelIslands
	m49SouthernEurope  = "AL AD BA HR GI GR VA IT MT ME MK PT SM RS SI ES XK"
	m49WesternEurope   = "AT BE FR DE LI LU MC NL CH"
	m49AustraliaNZ     = "AU CX CC HM NZ NF"
	m49Melanesia       = "FJ NC PG SB VU"
	m49Micronesia      = "GU KI MH FM NR MP PW UM"
	m49Polynesia       = "AS CK PF NU PN WS TK TO TV WF"

	m49SubSaharanAfrica = m49EasternAfrica + " " + m49MiddleAfrica + " " + m49SouthernAfrica +
		" " + m49WesternAfrica
	m49LatinAmerica = m49Caribbean + " " + m49CentralAmerica + " " + m49SouthAmerica
)

// Members of the political groups.
const (
	// The 27 member states since 1 February 2020.
	euStates = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
	// Parts of the Union with their own ISO code: Åland (Finland) and the outermost
	// regions of France (TFEU art. 349 and 355).
	euTerritories = "AX GF GP MQ RE YT MF"
	// Countries and territories with an adequacy decision of the European Commission
	// (GDPR art. 45) that covers the whole country rather than certified companies only.
	adequateStates = "AD AR CA FO GG IM IL JP JE NZ KR CH GB UY"
)

// groupDefs are the location groups, in the order they get their node indexes. Each
// rule is written for the reader; members is its exact outcome.
var groupDefs = []groupDef{
	{
		name:     "Strong Privacy Laws and Internet Freedom",
		promoted: true,
		rule: "Places where the GDPR applies (the EU member states and their territories " +
			"with an own ISO code, Iceland, Liechtenstein, Norway) and places the European " +
			"Commission found to protect personal data adequately country-wide under GDPR " +
			"article 45: Andorra, Argentina, Canada, Faroe Islands, Guernsey, Isle of Man, " +
			"Israel, Japan, Jersey, New Zealand, South Korea, Switzerland, United Kingdom, " +
			"Uruguay. The United States is left out because its finding covers only " +
			"companies certified under the Data Privacy Framework. The rule uses this one " +
			"published legal test; it does not grade internet freedom separately.",
		members: euStates + " " + euTerritories + " IS LI NO " + adequateStates,
	},
	{
		name:     "European Union",
		aliases:  []string{"EU"},
		promoted: true,
		rule: "The 27 member states since 1 February 2020, plus the parts of the Union that " +
			"have their own ISO 3166-1 code: Åland (Finland) and the French outermost " +
			"regions French Guiana, Guadeloupe, Martinique, Mayotte, Réunion and Saint " +
			"Martin. Overseas countries and territories such as Greenland are not part of " +
			"the Union and are left out.",
		members: euStates + " " + euTerritories,
	},
	{
		name:     "Nordic",
		promoted: true,
		rule: "The members of the Nordic Council (Denmark, Finland, Iceland, Norway, Sweden) " +
			"and their autonomous or dependent areas with an own ISO code: Åland, Faroe " +
			"Islands, Greenland, Svalbard and Jan Mayen.",
		members: "DK FI IS NO SE AX FO GL SJ",
	},
	m49("Africa", m49NorthernAfrica+" "+m49SubSaharanAfrica),
	m49("Northern Africa", m49NorthernAfrica),
	m49("Sub-Saharan Africa", m49SubSaharanAfrica),
	m49("Eastern Africa", m49EasternAfrica),
	m49("Middle Africa", m49MiddleAfrica),
	m49("Southern Africa", m49SouthernAfrica),
	m49("Western Africa", m49WesternAfrica),
	m49("Americas", m49LatinAmerica+" "+m49NorthernAmerica),
	m49("Latin America and the Caribbean", m49LatinAmerica),
	m49("Caribbean", m49Caribbean),
	m49("Central America", m49CentralAmerica),
	m49("South America", m49SouthAmerica),
	m49("Northern America", m49NorthernAmerica),
	m49("Asia", m49CentralAsia+" "+m49EasternAsia+" "+m49SouthEastAsia+" "+m49SouthernAsia+
		" "+m49WesternAsia),
	m49("Central Asia", m49CentralAsia),
	m49("Eastern Asia", m49EasternAsia),
	m49("South-eastern Asia", m49SouthEastAsia),
	m49("Southern Asia", m49SouthernAsia),
	m49("Western Asia", m49WesternAsia),
	m49("Europe", m49EasternEurope+" "+m49NorthernEurope+" "+m49SouthernEurope+" "+
		m49WesternEurope),
	m49("Eastern Europe", m49EasternEurope),
	m49("Northern Europe", m49NorthernEurope),
	m49("Channel Islands", m49ChannelIslands),
	m49("Southern Europe", m49SouthernEurope),
	m49("Western Europe", m49WesternEurope),
	m49("Oceania", m49AustraliaNZ+" "+m49Melanesia+" "+m49Micronesia+" "+m49Polynesia),
	m49("Australia and New Zealand", m49AustraliaNZ),
	m49("Melanesia", m49Melanesia),
	m49("Micronesia", m49Micronesia),
	m49("Polynesia", m49Polynesia),
}

// m49 defines a region of the UN geoscheme; these groups are not promoted.
func m49(name, members string) groupDef {
	return groupDef{
		name:    name,
		rule:    "The countries and areas of the UN geoscheme (M49) region " + name + ".",
		members: members,
	}
}

// memberCodes returns the sorted, distinct country codes of d.
func (d groupDef) memberCodes() []string {
	codes := strings.Fields(d.members)
	slices.Sort(codes)
	return slices.Compact(codes)
}

// maxGroupsPerCountry is the largest number of groups any one country belongs to.
var maxGroupsPerCountry = func() int {
	n := map[string]int{}
	most := 0
	for _, d := range groupDefs {
		for _, c := range d.memberCodes() {
			n[c]++
			most = max(most, n[c])
		}
	}
	return most
}()
