-- Places imported with `byplatform locations import`, loaded into the location catalog
-- at every start so searches answer for places without providers.
CREATE TABLE place (
    country_code TEXT NOT NULL,
    region       TEXT NOT NULL,
    city         TEXT NOT NULL,
    PRIMARY KEY (country_code, region, city)
);
