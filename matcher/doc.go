// Package matcher is the in-memory core of match-making: the catalog of locations and
// location groups, typo-tolerant search over their names, and the pool of available
// providers with counts per location and random sampling. It does no I/O and imports
// nothing from the rest of the project; the engine feeds it and the API reads it.
//
// # API
//
// A [Catalog] holds countries, regions and cities ([Location]) and the fixed location
// groups ([Group]). [NewCatalog] starts one with the groups; [Catalog.Add] adds one
// [Place] with its missing parents, [Catalog.AddAll] many at once, and [Catalog.Load]
// reads the places TSV shape (see [ReadPlaces]) from any io.Reader, plain or gzip.
// [Catalog.Location], [Catalog.Group], [Catalog.Groups] and [Catalog.GroupsOf] look
// things up; [Catalog.Search] runs a [Query] without provider counts. Each result
// carries its location's Key, a dense index fixed for the catalog's life, and
// [Catalog.LocationAt] finds a location by it: a caller that keeps what it renders of a
// location by key can ask for results by key alone (Query.KeysOnly).
//
// A [Pool] tracks providers over a catalog: [Pool.Set] adds or updates a [Provider]
// (client id, network id, location, [ModeSet], weight), [Pool.SetAll] many under one
// lock hold (the way to feed it a stream of health changes), [Pool.Remove] removes one,
// [Pool.Get] and [Pool.Len] read. [Pool.Count] is the number of providers a [Filter]
// sees at a location or in a group, [Pool.Search] is the search with those counts, and
// [Pool.Sample] (or [Pool.AppendSample]) draws providers for a [SampleRequest].
//
// Both types are safe for concurrent use. Catalog readers never wait: they work on an
// immutable snapshot, and writers publish a new one. Pool updates hold a write lock for
// O(1) work, samples a read lock for their own short work, and searches read provider
// counts from atomic counters without the lock.
//
// # Names and normalization
//
// [Normalize] is applied to names and queries alike: compatibility decomposition with
// nonspacing marks removed (accents), lower case, a few letters folded to Latin (ł to l,
// ß to ss), and every run of other characters turned into one space. A location's
// names are its own name and context names made with its parents: a country has its
// name and its country code; a region has its name, "region country" and the country
// code; a city has its name, "city region" (when it has a region), "city country" and
// the country code. A group has its name and aliases (EU for the European Union). The
// own name, a country's code and a group's aliases are the primary names.
//
// # Distance
//
// The distance between a query q and a location or group is its prefix edit distance:
//
//	dist(q) = min over names n, over word-aligned suffixes s of Normalize(n),
//	          over prefixes p of s, of levenshtein(q, p)
//
// where a word-aligned suffix starts at the beginning of the name or right after a
// space, levenshtein counts insertions, deletions and substitutions of Unicode code
// points (runes), and q is the normalized query. So "lond" is at distance 0 from London,
// "yor" from New York, "germny" at 1 from Germany and "untied states" at 2 from the
// United States.
//
// A query matches when the distance is at most d = min(3, ceil(f × m)), where m is the
// number of runes of the normalized query and f is Query.MaxDistanceFraction when
// Query.EnableMaxDistanceFraction is set and 0.2 otherwise ([Query.AllowedDistance]).
// An empty normalized query matches everything at distance 0.
//
// # Ranking
//
// Matches are ordered by, in turn: distance, ascending; exact prefix first (the query is
// a prefix of a primary name, from its start); number of providers visible under the
// query's filter, descending; normalized name, then name, then kind (groups, countries,
// regions, cities), then id, ascending. The first Query.Limit (default 100) are
// returned, groups and locations together, then split into [Results] keeping the order.
// Query.OnlyAvailable drops those without a visible provider. Equal catalogs, pools and
// queries give equal results.
//
// # Search
//
// Each index segment holds every word-aligned suffix of every name, sorted, with a radix
// tree over them laid out breadth first; the primary names are sorted apart for exact
// prefix lookups. A search first takes the exact-prefix matches by binary search; if
// they fill the limit nothing else can rank before them. Otherwise it walks the tree
// with distance 0, 1, ... up to d and stops at the first distance whose matches fill
// the limit, since farther ones rank after them; a query of 11 runes or more whose
// distance 0 does not fill it goes straight to d = 3, since 1 and 2 almost never do
// (every walk finds exact distances, so this changes only the time). The walk runs the
// banded edit-distance table down the tree for all live paths, level by level, collects
// a whole subtree once no longer prefix can improve the distance, and drops a path once
// its row minimum exceeds d or cheap look-ahead tests (rune classes and rune pairs below
// the node, the runes that can follow) show that it cannot match. When d reaches the
// query's length, every node matches; the nodes not found nearer are then exactly at
// that distance and are ranked from the provider counts and the name order without a
// walk.
//
// With a budget of d >= 1, the banded table alone lets almost every short path live:
// any three runes are within three edits of anything. So a query q = q1 q2 is split
// (split.go): a match either spends at most a edits on q1 or at most b on q2, with
// a + b = d - 1. The walk keeps only paths that can stay within a of q1 (a is 0 or 1,
// and a path that has spent it can only go on with the rune q1 needs next, which is
// looked up among the children); the matches that spend more on q1 hold one of b+1
// disjoint pieces of q2 intact at most d runes from its place in the query, and a
// positional trigram index of the first 16 runes of every suffix lists them. A second
// trigram of the piece filters the list (both lists are sorted, and galloping merges
// them); the rest are checked with Myers' bit-parallel edit distance, first against a
// head kept per suffix in one cache line (its first 31 runes as bytes: ASCII as itself,
// other runes hashed above 127), which can only underestimate the distance, and is
// exact when the head is ASCII (a long query's check stops after five or eight runes
// when the table's band there already exceeds d); the others are checked on their runes.
// Both cases report exact distances, so the result is the plain walk's; a cost estimate
// from the trigram list lengths picks the split point, the pieces, or the plain walk.
//
// A short query can match thousands of nodes ("france" the 8,932 French places, at
// distance 0 through "city, country"). Ranking such a set takes its better tiers (by
// distance, exact matches first) whole, and of its last tier the nodes that can have
// providers and the first of the others in name order, which rank by name alone. A
// query that is a prefix of the own names of at least four times the limit (one or two
// letters) is ranked without marking them: the own names are sorted apart from the
// other primary names (codes, aliases), in name order up to ties, so their first limit
// entries and the ties of the last, the other primary names with the prefix and the
// nodes that can have providers hold the best limit; when the latter are more than a
// quarter of those own names, the search takes the usual way. The empty query takes the
// nodes that can have providers and the first limit others in name order likewise.
//
// In a pool with providers at most locations those ways rank nearly everything. There
// the pool's locations are listed by the magnitude of their provider count, largest
// first (counts below 16 share the last part), and a search that matches every node, or
// one whose tier that fills the limit is likely to fill from the locations with the most
// providers (its cities and its larger places each spread evenly over their kind's share
// of that list), takes the better tiers whole and then locations from the head of that list
// until the limit is full and its last one has more providers than any location not
// taken can have; when the head runs out first, it takes the ways above.
//
// Pool searches that do not ask for available locations only keep their match sets
// (nodes, distances, exactness, name ranks) per snapshot in a bounded cache: users
// repeat their searches, and what matches does not depend on providers. Each search
// ranks the set with the counts of the moment.
//
// Adding locations one at a time rebuilds a small second index; once it holds more than
// 1,024 nodes, the main index is rebuilt with them. [Catalog.AddAll] rebuilds once.
//
// # Groups
//
// Groups are data in this package ([Group.Rule] states each rule, [Group.CountryCodes]
// its outcome). A group contains whole countries: with a country come its regions and
// cities. The groups are:
//
//   - Strong Privacy Laws and Internet Freedom (promoted): places where the GDPR applies
//     (EU member states and their territories with an own ISO code, Iceland,
//     Liechtenstein, Norway) and places with a country-wide adequacy decision of the
//     European Commission under GDPR article 45 (Andorra, Argentina, Canada, Faroe
//     Islands, Guernsey, Isle of Man, Israel, Japan, Jersey, New Zealand, South Korea,
//     Switzerland, United Kingdom, Uruguay). The United States is left out: its finding
//     covers only companies certified under the Data Privacy Framework.
//   - European Union (promoted): the 27 member states since 1 February 2020, plus Åland
//     and the French outermost regions, which have their own ISO codes.
//   - Nordic (promoted): Denmark, Finland, Iceland, Norway, Sweden, Åland, Faroe
//     Islands, Greenland, Svalbard and Jan Mayen.
//   - The UN geoscheme (M49) regions, sub-regions and intermediate regions (not
//     promoted), from Africa to Polynesia; Taiwan is placed in Eastern Asia and Kosovo
//     in Southern Europe, which have no M49 code.
//
// # Ids
//
// Ids are derived, never stored: [CountryID], [RegionID] and [CityID] hash the kind,
// the upper-case country code and the normalized region and city names with SHA-256 in
// a fixed name space into a version 8 UUID (RFC 9562's name-based form); [GroupID]
// does the same with the normalized group name in another name space. Every instance
// and every restart agrees on them without a lookup; tests pin a few values. Changing
// Normalize would change ids.
//
// # Providers and visibility
//
// A provider offers a set of modes ([ModeNetwork] 1, [ModeFriendsAndFamily] 2,
// [ModePublic] 3, [ModeStream] 4, [ModePublicStream] 5, as on the wire). A caller's
// [Filter] names its network and the modes it can use. A provider is visible to it when
// it offers one of those modes that is public (ModePublic, ModePublicStream), or when
// it belongs to the caller's network and offers any of them. Friends-and-family is
// treated as private to the provider's network, since the pool knows no friendships.
//
// Counts per location are kept per combination of public modes, updated with every
// change; a group's count is the sum over its countries; the caller's own network's
// private providers are added from a walk of that network's list. The locations with a
// public provider are listed in parts by magnitude (1-15, 16-31, 32-63, ...), and a count
// that crosses into another part swaps the location with the one at the border, O(1).
//
// The pool finds a provider by client id, and a network's list by network id, through
// open-addressing tables of slots that keep 32 bits of each id's hash beside the slot;
// each table is split into 256 parts that grow one at a time, so that no update copies
// the whole table. A provider's record holds its location id: an update that keeps the
// location (a change of weight, modes or network) needs no look-up in the catalog, and
// a move looks its new location up in a cache of location chains before the catalog.
//
// # Sampling
//
// For each location the pool keeps, per public mode, a dense array of members for the
// providers whose city, region or country it is; a provider's record holds its position
// in each, so adding and removing are O(1) (append, and swap with the last). A member
// carries the provider's client id, weight and slot, so that a sample judges and returns
// candidates without reading their records, each of which would be a cache miss.
//
// A sample resolves its specs into locations (a group into its countries), drops any
// location inside another named one, and so sees each provider at most once per public
// mode it offers; explicit client ids and the caller's own private providers form one
// more list. Let T be the total size of these arrays and list, k the number of arrays,
// and M (at most 3) the largest number of them a provider can be in. The excluded ids go
// into an open-addressing set in O(len(exclude)), and every pick joins them.
//
// When T exceeds 8/7·M·(count + len(exclude)) + 14, it draws uniform positions in their
// concatenation and accepts the provider found there with probability 1/(its number of
// appearances) × weight/(largest weight), skipping excluded and already picked ones.
// Each draw thus yields every remaining provider with the same probability (scaled by
// weight), which makes each pick uniform (weighted) among those not yet picked or
// excluded. At least an eighth of the distinct candidates are eligible, so a pick takes
// at most 8·M draws in expectation with equal weights (8·M·wmax/wmin otherwise, at most
// 64 times more); drawing a position costs O(log k). Draws are independent, so they are
// made in batches whose members are read together, letting their cache misses overlap.
// Otherwise, or if draws exceed four times their expected number, it lists the
// remaining candidates once (O(T), which the threshold bounds by O(count +
// len(exclude))) and picks among them by a partial Fisher-Yates shuffle, or for unequal
// weights by successive weighted picks from a Fenwick tree of their weights, O(log T)
// each. Listing reads every member while a draw reads one, hence the low threshold. The
// expected cost is O(k + count + len(exclude)) plus the walk of the caller's own
// network, independent of the pool's size. Weights are multiples of 1/64; random
// numbers come from Lemire's multiply-and-reject method, so with equal weights the picks
// are exactly uniform. A sample that finds a writer holding the pool retries for a few
// microseconds before it blocks, which spares it being parked and woken for each Set.
package matcher
