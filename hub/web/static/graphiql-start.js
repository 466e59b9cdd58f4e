// GraphiQL on /graphql, with the hub's example tabs (a JSON data block on the page).
// A file rather than an inline script, so the Content-Security-Policy needs no exception.
const tabs = JSON.parse(document.getElementById("graphiql-tabs").textContent);
const fetcher = GraphiQL.createFetcher({ url: "/graphql" });
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher, defaultTabs: tabs, defaultEditorToolsVisibility: true,
  })
);
