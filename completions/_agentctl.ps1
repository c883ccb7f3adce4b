
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'agentctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'agentctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'agentctl' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the Agent-compatible HTTP service: decisions, track, the SSE notification stream, webhook and admin endpoints')
            [CompletionResult]::new('subscribe', 'subscribe', [CompletionResultType]::ParameterValue, 'Follow the SSE notification stream of an Agent')
            [CompletionResult]::new('burst', 'burst', [CompletionResultType]::ParameterValue, 'Generate load against an Agent and verify delivery')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Operator views of the Redis side: streams, groups, consumers, pending entries')
            [CompletionResult]::new('trim', 'trim', [CompletionResultType]::ParameterValue, 'Remove old entries from notification streams (XTRIM by MAXLEN or MINID)')
            [CompletionResult]::new('claim', 'claim', [CompletionResultType]::ParameterValue, 'Move stuck pending entries to a live consumer (XAUTOCLAIM / XCLAIM)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('generate-secret', 'generate-secret', [CompletionResultType]::ParameterValue, 'Make a client secret and its secretHash for token authentication')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'agentctl;serve' {
            [CompletionResult]::new('--api-addr', '--api-addr', [CompletionResultType]::ParameterName, 'API listener address (port 0 picks a free port). Default: server.host:api.port')
            [CompletionResult]::new('--admin-addr', '--admin-addr', [CompletionResultType]::ParameterName, 'Admin listener address. Default: server.host:admin.port')
            [CompletionResult]::new('--webhook-addr', '--webhook-addr', [CompletionResultType]::ParameterName, 'Webhook listener address. Default: server.host:webhook.port')
            [CompletionResult]::new('--datafiles', '--datafiles', [CompletionResultType]::ParameterName, 'Directory of datafiles named `<sdkKey>.json`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;subscribe' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'Base URL of the Agent''s API listener (`host:port` means http://host:port). Repeatable or comma-separated: a dropped connection resumes on the next one (round robin). Default: the API address of the config (server.host:api.port)')
            [CompletionResult]::new('--sdk-key', '--sdk-key', [CompletionResultType]::ParameterName, 'SDK key sent in X-Optimizely-SDK-Key. Default: the only datafile in ./datafiles, else the only key of sdkKeys in the config')
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'Only these kinds (repeatable or comma-separated)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format [default: pretty on a terminal, else json]')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Exit 0 after N notifications')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Exit 0 after this long')
            [CompletionResult]::new('--last-event-id', '--last-event-id', [CompletionResultType]::ParameterName, 'Resume after this notification id (sent as Last-Event-ID)')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Read as a consumer of this durable consumer group (Redis Streams servers)')
            [CompletionResult]::new('--consumer', '--consumer', [CompletionResultType]::ParameterName, 'The consumer name within --group (default: the server picks one)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Extra request header `NAME: VALUE` (repeatable)')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM file (for https URLs)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'The same as --format json')
            [CompletionResult]::new('--from-start', '--from-start', [CompletionResultType]::ParameterName, 'Replay everything the server retains first (Last-Event-ID 0-0)')
            [CompletionResult]::new('--until-caught-up', '--until-caught-up', [CompletionResultType]::ParameterName, 'Exit 0 once the replay asked for with --from-start or --last-event-id is done')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit 1 when the connection drops instead of reconnecting')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s TLS certificate')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;burst' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'Base URL of the Agent''s API listener (`host:port` means http://host:port). Default: the API address of the config (server.host:api.port)')
            [CompletionResult]::new('--sdk-key', '--sdk-key', [CompletionResultType]::ParameterName, 'SDK key sent in X-Optimizely-SDK-Key. Default: the only datafile in ./datafiles, else the only key of sdkKeys in the config')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Extra request header `NAME: VALUE` on every request and subscription (repeatable), e.g. `Authorization: Bearer TOKEN` for an Agent with api.auth')
            [CompletionResult]::new('--endpoint', '--endpoint', [CompletionResultType]::ParameterName, 'The endpoint to load')
            [CompletionResult]::new('--requests', '--requests', [CompletionResultType]::ParameterName, 'Send this many requests [default: 20]')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Send for this long instead of a number of requests')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at once: the workers of the closed model, or the cap on outstanding requests with --rate [default: 1, or 1000 with --rate]')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Start requests at this constant rate per second (open model)')
            [CompletionResult]::new('--flags', '--flags', [CompletionResultType]::ParameterName, 'Flag keys for decide and activate, comma-separated; requests cycle through them (decide without flags decides every flag)')
            [CompletionResult]::new('--users', '--users', [CompletionResultType]::ParameterName, 'Cycle through this many distinct user ids (default: one per request)')
            [CompletionResult]::new('--attributes', '--attributes', [CompletionResultType]::ParameterName, 'User attributes sent with every request (a JSON object)')
            [CompletionResult]::new('--event-key', '--event-key', [CompletionResultType]::ParameterName, 'Event key for track (required for track and mix)')
            [CompletionResult]::new('--subscribers', '--subscribers', [CompletionResultType]::ParameterName, 'Number of SSE subscribers opened by --verify')
            [CompletionResult]::new('--subscribe-url', '--subscribe-url', [CompletionResultType]::ParameterName, 'Base URL the subscribers connect to (repeatable or comma-separated; they are spread over all of them, and a subscriber whose connection drops resumes on the next one). Default: --url')
            [CompletionResult]::new('--timeseries', '--timeseries', [CompletionResultType]::ParameterName, 'Add one report row per interval of this length')
            [CompletionResult]::new('--threshold', '--threshold', [CompletionResultType]::ParameterName, 'Fail (exit 1) unless this holds: `p50|p90|p99|p99.9|max|mean OP DURATION`, `errors|lost|duplicated OP N` or `rate OP R`, OP one of < <= > >= =')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--verify', '--verify', [CompletionResultType]::ParameterName, 'Subscribe to the notification stream first and check every request''s notifications arrive at every subscriber')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the whole report as one JSON object')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;inspect' {
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Re-render the view every DURATION (e.g. 2s) until interrupted')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (one object per line) instead of a table; see the README for the schema')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('streams', 'streams', [CompletionResultType]::ParameterValue, 'Every stream matching a pattern: length, first/last entry, groups, pending, lag, memory')
            [CompletionResult]::new('stream', 'stream', [CompletionResultType]::ParameterValue, 'One stream as XINFO STREAM reports it')
            [CompletionResult]::new('groups', 'groups', [CompletionResultType]::ParameterValue, 'The consumer groups of a stream: consumers, pending, last-delivered-id, lag')
            [CompletionResult]::new('consumers', 'consumers', [CompletionResultType]::ParameterValue, 'The consumers of a stream''s groups: pending, idle, status')
            [CompletionResult]::new('pending', 'pending', [CompletionResultType]::ParameterValue, 'A group''s pending entries (XPENDING), and the claim command that recovers idle ones')
            [CompletionResult]::new('len', 'len', [CompletionResultType]::ParameterValue, 'The number of entries in a stream (XLEN)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'agentctl;inspect;streams' {
            [CompletionResult]::new('--match', '--match', [CompletionResultType]::ParameterName, 'SCAN MATCH pattern selecting the streams')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Re-render the view every DURATION (e.g. 2s) until interrupted')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (one object per line) instead of a table; see the README for the schema')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;inspect;stream' {
            [CompletionResult]::new('--sdk-key', '--sdk-key', [CompletionResultType]::ParameterName, 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Re-render the view every DURATION (e.g. 2s) until interrupted')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (one object per line) instead of a table; see the README for the schema')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;inspect;groups' {
            [CompletionResult]::new('--sdk-key', '--sdk-key', [CompletionResultType]::ParameterName, 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Re-render the view every DURATION (e.g. 2s) until interrupted')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (one object per line) instead of a table; see the README for the schema')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;inspect;consumers' {
            [CompletionResult]::new('--sdk-key', '--sdk-key', [CompletionResultType]::ParameterName, 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Only this group (default: every group of the stream)')
            [CompletionResult]::new('--dead-after', '--dead-after', [CompletionResultType]::ParameterName, 'A consumer idle for at least this long is reported as dead')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Re-render the view every DURATION (e.g. 2s) until interrupted')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (one object per line) instead of a table; see the README for the schema')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;inspect;pending' {
            [CompletionResult]::new('--sdk-key', '--sdk-key', [CompletionResultType]::ParameterName, 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'The consumer group. Default: notifications, else the stream''s only group')
            [CompletionResult]::new('--consumer', '--consumer', [CompletionResultType]::ParameterName, 'Only entries owned by this consumer')
            [CompletionResult]::new('--min-idle', '--min-idle', [CompletionResultType]::ParameterName, 'Entries idle for at least this long are counted as claimable')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'At most this many entries are listed')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Re-render the view every DURATION (e.g. 2s) until interrupted')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (one object per line) instead of a table; see the README for the schema')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;inspect;len' {
            [CompletionResult]::new('--sdk-key', '--sdk-key', [CompletionResultType]::ParameterName, 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Re-render the view every DURATION (e.g. 2s) until interrupted')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (one object per line) instead of a table; see the README for the schema')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;inspect;help' {
            [CompletionResult]::new('streams', 'streams', [CompletionResultType]::ParameterValue, 'Every stream matching a pattern: length, first/last entry, groups, pending, lag, memory')
            [CompletionResult]::new('stream', 'stream', [CompletionResultType]::ParameterValue, 'One stream as XINFO STREAM reports it')
            [CompletionResult]::new('groups', 'groups', [CompletionResultType]::ParameterValue, 'The consumer groups of a stream: consumers, pending, last-delivered-id, lag')
            [CompletionResult]::new('consumers', 'consumers', [CompletionResultType]::ParameterValue, 'The consumers of a stream''s groups: pending, idle, status')
            [CompletionResult]::new('pending', 'pending', [CompletionResultType]::ParameterValue, 'A group''s pending entries (XPENDING), and the claim command that recovers idle ones')
            [CompletionResult]::new('len', 'len', [CompletionResultType]::ParameterValue, 'The number of entries in a stream (XLEN)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'agentctl;inspect;help;streams' {
            break
        }
        'agentctl;inspect;help;stream' {
            break
        }
        'agentctl;inspect;help;groups' {
            break
        }
        'agentctl;inspect;help;consumers' {
            break
        }
        'agentctl;inspect;help;pending' {
            break
        }
        'agentctl;inspect;help;len' {
            break
        }
        'agentctl;inspect;help;help' {
            break
        }
        'agentctl;trim' {
            [CompletionResult]::new('--sdk-key', '--sdk-key', [CompletionResultType]::ParameterName, 'SDK key whose stream to trim (stream:optimizely-sync-<SDK_KEY>)')
            [CompletionResult]::new('--match', '--match', [CompletionResultType]::ParameterName, 'SCAN MATCH pattern used with --all')
            [CompletionResult]::new('--maxlen', '--maxlen', [CompletionResultType]::ParameterName, 'Keep at most N entries (XTRIM MAXLEN)')
            [CompletionResult]::new('--max-age', '--max-age', [CompletionResultType]::ParameterName, 'Remove entries older than DURATION (XTRIM MINID now-DURATION)')
            [CompletionResult]::new('--minid', '--minid', [CompletionResultType]::ParameterName, 'Remove entries whose id is lower than ID (XTRIM MINID)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Trim every stream matching --match')
            [CompletionResult]::new('--exact', '--exact', [CompletionResultType]::ParameterName, 'Trim exactly (`=`) instead of approximately (`~`)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Compute and print what would be removed without removing it')
            [CompletionResult]::new('--safe', '--safe', [CompletionResultType]::ParameterName, 'Never remove entries a group has not been delivered yet or still has pending')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (one object per line) instead of a table; see the README for the schema')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;claim' {
            [CompletionResult]::new('--sdk-key', '--sdk-key', [CompletionResultType]::ParameterName, 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'The consumer group whose pending entries to claim')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'The consumer that becomes the owner of the claimed entries')
            [CompletionResult]::new('--min-idle', '--min-idle', [CompletionResultType]::ParameterName, 'Only entries idle for at least this long are claimed')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Claim at most N entries')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Only claim entries owned by this consumer')
            [CompletionResult]::new('--ids', '--ids', [CompletionResultType]::ParameterName, 'Claim exactly these entry ids (XCLAIM)')
            [CompletionResult]::new('--dead-letter', '--dead-letter', [CompletionResultType]::ParameterName, 'Stream that receives entries delivered more than --max-deliveries times')
            [CompletionResult]::new('--max-deliveries', '--max-deliveries', [CompletionResultType]::ParameterName, 'Delivery count above which a claimed entry goes to --dead-letter')
            [CompletionResult]::new('--delete-consumer', '--delete-consumer', [CompletionResultType]::ParameterName, 'Afterwards, delete this consumer from the group if it holds no pending entries')
            [CompletionResult]::new('--delete-idle-groups', '--delete-idle-groups', [CompletionResultType]::ParameterName, 'Instead of claiming: delete the stream''s consumer groups whose consumers have all been idle at least this long (with their pending entries)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be claimed without claiming')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (one object per line) instead of a table; see the README for the schema')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;generate-secret' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print `{"clientSecret":…,"secretHash":…}` instead of two labelled lines')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'agentctl;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the Agent-compatible HTTP service: decisions, track, the SSE notification stream, webhook and admin endpoints')
            [CompletionResult]::new('subscribe', 'subscribe', [CompletionResultType]::ParameterValue, 'Follow the SSE notification stream of an Agent')
            [CompletionResult]::new('burst', 'burst', [CompletionResultType]::ParameterValue, 'Generate load against an Agent and verify delivery')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Operator views of the Redis side: streams, groups, consumers, pending entries')
            [CompletionResult]::new('trim', 'trim', [CompletionResultType]::ParameterValue, 'Remove old entries from notification streams (XTRIM by MAXLEN or MINID)')
            [CompletionResult]::new('claim', 'claim', [CompletionResultType]::ParameterValue, 'Move stuck pending entries to a live consumer (XAUTOCLAIM / XCLAIM)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('generate-secret', 'generate-secret', [CompletionResultType]::ParameterValue, 'Make a client secret and its secretHash for token authentication')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'agentctl;help;serve' {
            break
        }
        'agentctl;help;subscribe' {
            break
        }
        'agentctl;help;burst' {
            break
        }
        'agentctl;help;inspect' {
            [CompletionResult]::new('streams', 'streams', [CompletionResultType]::ParameterValue, 'Every stream matching a pattern: length, first/last entry, groups, pending, lag, memory')
            [CompletionResult]::new('stream', 'stream', [CompletionResultType]::ParameterValue, 'One stream as XINFO STREAM reports it')
            [CompletionResult]::new('groups', 'groups', [CompletionResultType]::ParameterValue, 'The consumer groups of a stream: consumers, pending, last-delivered-id, lag')
            [CompletionResult]::new('consumers', 'consumers', [CompletionResultType]::ParameterValue, 'The consumers of a stream''s groups: pending, idle, status')
            [CompletionResult]::new('pending', 'pending', [CompletionResultType]::ParameterValue, 'A group''s pending entries (XPENDING), and the claim command that recovers idle ones')
            [CompletionResult]::new('len', 'len', [CompletionResultType]::ParameterValue, 'The number of entries in a stream (XLEN)')
            break
        }
        'agentctl;help;inspect;streams' {
            break
        }
        'agentctl;help;inspect;stream' {
            break
        }
        'agentctl;help;inspect;groups' {
            break
        }
        'agentctl;help;inspect;consumers' {
            break
        }
        'agentctl;help;inspect;pending' {
            break
        }
        'agentctl;help;inspect;len' {
            break
        }
        'agentctl;help;trim' {
            break
        }
        'agentctl;help;claim' {
            break
        }
        'agentctl;help;completions' {
            break
        }
        'agentctl;help;generate-secret' {
            break
        }
        'agentctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
