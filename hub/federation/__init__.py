"""Federation (联网推送): this hub pushes what it accepts to upstream hubs (issue 17, §3)."""
