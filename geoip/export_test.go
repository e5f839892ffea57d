package geoip

// OpenBytes exposes openBytes to the external tests.
var OpenBytes = openBytes
