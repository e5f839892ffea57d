package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// runLocations is `byplatform locations import FILE`: it stores places shaped like the
// world cities file so that every server start has them in its location catalog.
func runLocations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		return fmt.Errorf("locations: usage: byplatform locations import [flags] FILE")
	}
	var c config
	fs := newFlagSet("locations import", "Import places (city, region, country, "+
		"country_code; tab-separated, plain or gzip) into the location catalog", stdout)
	c.databaseFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("locations import: want one FILE, got %d", fs.NArg())
	}
	file := fs.Arg(0)
	if err := parse(fs, fs.Args()[1:]); err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	eng, done, err := toolEngine(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer done()
	n, err := eng.ImportLocations(ctx, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d places\n", n)
	return nil
}
