// PostGraphile v5 over the hub's database, the peer of bench/graphql.py: the stock Amber
// preset plus @graphile/pg-aggregates (for transactionStats' shape), no watch, no explain,
// no GraphiQL, production mode, as one would deploy it.
import { PgAggregatesPreset } from "@graphile/pg-aggregates";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

// pg-aggregates truncates only timestamps; order_date is a `date`, so add month buckets
// (the hub groups by the first seven characters of the date: the same groups).
const DateMonthGroupByPlugin = {
  name: "BenchDateMonthGroupByPlugin",
  version: "0.0.0",
  after: ["PgAggregatesSpecsPlugin"],
  schema: {
    hooks: {
      build(build) {
        const { sql, dataplanPg: { TYPES } } = build;
        build.pgAggregateGroupBySpecs.push({
          id: "truncated-to-month",
          isSuitableType: (codec) => codec === TYPES.date,
          sqlWrap: (frag) => sql`date_trunc('month', ${frag})::date`,
          sqlWrapCodec: (codec) => codec,
        });
        return build;
      },
    },
  },
};

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PgAggregatesPreset],
  plugins: [DateMonthGroupByPlugin],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PORT ?? 5678),
    watch: false,
    graphiql: false,
  },
  grafast: { explain: false },
};

export default preset;
