# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_agentctl_global_optspecs
    string join \n config= redis= v/verbose color= h/help V/version
end

function __fish_agentctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_agentctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_agentctl_using_subcommand
    set -l cmd (__fish_agentctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c agentctl -n "__fish_agentctl_needs_command" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_needs_command" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_needs_command" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_needs_command" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_needs_command" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "serve" -d 'Run the Agent-compatible HTTP service: decisions, track, the SSE notification stream, webhook and admin endpoints'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "subscribe" -d 'Follow the SSE notification stream of an Agent'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "burst" -d 'Generate load against an Agent and verify delivery'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "inspect" -d 'Operator views of the Redis side: streams, groups, consumers, pending entries'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "trim" -d 'Remove old entries from notification streams (XTRIM by MAXLEN or MINID)'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "claim" -d 'Move stuck pending entries to a live consumer (XAUTOCLAIM / XCLAIM)'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "generate-secret" -d 'Make a client secret and its secretHash for token authentication'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand serve" -l api-addr -d 'API listener address (port 0 picks a free port). Default: server.host:api.port' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand serve" -l admin-addr -d 'Admin listener address. Default: server.host:admin.port' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand serve" -l webhook-addr -d 'Webhook listener address. Default: server.host:webhook.port' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand serve" -l datafiles -d 'Directory of datafiles named `<sdkKey>.json`' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand serve" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand serve" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand serve" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand serve" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand serve" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l url -d 'Base URL of the Agent\'s API listener (`host:port` means http://host:port). Repeatable or comma-separated: a dropped connection resumes on the next one (round robin). Default: the API address of the config (server.host:api.port)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l sdk-key -d 'SDK key sent in X-Optimizely-SDK-Key. Default: the only datafile in ./datafiles, else the only key of sdkKeys in the config' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l filter -d 'Only these kinds (repeatable or comma-separated)' -r -f -a "decision\t'Decision notifications (flag, ab-test, feature-test, all-feature-variables)'
track\t'Track (conversion) notifications'
datafile-update\t'Datafile updates'"
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l format -d 'Output format [default: pretty on a terminal, else json]' -r -f -a "pretty\t'One readable line per notification, coloured on a terminal'
json\t'One JSON object per line: id, type, received_at, message'
raw\t'The `data:` payload as the server sent it'"
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l count -d 'Exit 0 after N notifications' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l timeout -d 'Exit 0 after this long' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l last-event-id -d 'Resume after this notification id (sent as Last-Event-ID)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l group -d 'Read as a consumer of this durable consumer group (Redis Streams servers)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l consumer -d 'The consumer name within --group (default: the server picks one)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l header -d 'Extra request header `NAME: VALUE` (repeatable)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l cacert -d 'Trust the CA certificates in this PEM file (for https URLs)' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l json -d 'The same as --format json'
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l from-start -d 'Replay everything the server retains first (Last-Event-ID 0-0)'
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l until-caught-up -d 'Exit 0 once the replay asked for with --from-start or --last-event-id is done'
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l no-reconnect -d 'Exit 1 when the connection drops instead of reconnecting'
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -l insecure -d 'Do not verify the server\'s TLS certificate'
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand subscribe" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l url -d 'Base URL of the Agent\'s API listener (`host:port` means http://host:port). Default: the API address of the config (server.host:api.port)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l sdk-key -d 'SDK key sent in X-Optimizely-SDK-Key. Default: the only datafile in ./datafiles, else the only key of sdkKeys in the config' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l header -d 'Extra request header `NAME: VALUE` on every request and subscription (repeatable), e.g. `Authorization: Bearer TOKEN` for an Agent with api.auth' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l endpoint -d 'The endpoint to load' -r -f -a "decide\t'`POST /v1/decide?keys=FLAG`'
track\t'`POST /v1/track?eventKey=KEY`'
activate\t'`POST /v1/activate?featureKey=FLAG`'
mix\t'Decide, track and activate in turn'"
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l requests -d 'Send this many requests [default: 20]' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l duration -d 'Send for this long instead of a number of requests' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l concurrency -d 'Requests in flight at once: the workers of the closed model, or the cap on outstanding requests with --rate [default: 1, or 1000 with --rate]' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l rate -d 'Start requests at this constant rate per second (open model)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l flags -d 'Flag keys for decide and activate, comma-separated; requests cycle through them (decide without flags decides every flag)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l users -d 'Cycle through this many distinct user ids (default: one per request)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l attributes -d 'User attributes sent with every request (a JSON object)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l event-key -d 'Event key for track (required for track and mix)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l subscribers -d 'Number of SSE subscribers opened by --verify' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l subscribe-url -d 'Base URL the subscribers connect to (repeatable or comma-separated; they are spread over all of them, and a subscriber whose connection drops resumes on the next one). Default: --url' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l timeseries -d 'Add one report row per interval of this length' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l threshold -d 'Fail (exit 1) unless this holds: `p50|p90|p99|p99.9|max|mean OP DURATION`, `errors|lost|duplicated OP N` or `rate OP R`, OP one of < <= > >= =' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l verify -d 'Subscribe to the notification stream first and check every request\'s notifications arrive at every subscriber'
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -l json -d 'Print the whole report as one JSON object'
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand burst" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -l watch -d 'Re-render the view every DURATION (e.g. 2s) until interrupted' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -l json -d 'Print JSON (one object per line) instead of a table; see the README for the schema'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -f -a "streams" -d 'Every stream matching a pattern: length, first/last entry, groups, pending, lag, memory'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -f -a "stream" -d 'One stream as XINFO STREAM reports it'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -f -a "groups" -d 'The consumer groups of a stream: consumers, pending, last-delivered-id, lag'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -f -a "consumers" -d 'The consumers of a stream\'s groups: pending, idle, status'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -f -a "pending" -d 'A group\'s pending entries (XPENDING), and the claim command that recovers idle ones'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -f -a "len" -d 'The number of entries in a stream (XLEN)'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and not __fish_seen_subcommand_from streams stream groups consumers pending len help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from streams" -l match -d 'SCAN MATCH pattern selecting the streams' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from streams" -l watch -d 'Re-render the view every DURATION (e.g. 2s) until interrupted' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from streams" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from streams" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from streams" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from streams" -l json -d 'Print JSON (one object per line) instead of a table; see the README for the schema'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from streams" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from streams" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from streams" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from stream" -l sdk-key -d 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from stream" -l watch -d 'Re-render the view every DURATION (e.g. 2s) until interrupted' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from stream" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from stream" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from stream" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from stream" -l json -d 'Print JSON (one object per line) instead of a table; see the README for the schema'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from stream" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from stream" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from stream" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from groups" -l sdk-key -d 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from groups" -l watch -d 'Re-render the view every DURATION (e.g. 2s) until interrupted' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from groups" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from groups" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from groups" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from groups" -l json -d 'Print JSON (one object per line) instead of a table; see the README for the schema'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from groups" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from groups" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from groups" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -l sdk-key -d 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -l group -d 'Only this group (default: every group of the stream)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -l dead-after -d 'A consumer idle for at least this long is reported as dead' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -l watch -d 'Re-render the view every DURATION (e.g. 2s) until interrupted' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -l json -d 'Print JSON (one object per line) instead of a table; see the README for the schema'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from consumers" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -l sdk-key -d 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -l group -d 'The consumer group. Default: notifications, else the stream\'s only group' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -l consumer -d 'Only entries owned by this consumer' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -l min-idle -d 'Entries idle for at least this long are counted as claimable' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -l count -d 'At most this many entries are listed' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -l watch -d 'Re-render the view every DURATION (e.g. 2s) until interrupted' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -l json -d 'Print JSON (one object per line) instead of a table; see the README for the schema'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from pending" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from len" -l sdk-key -d 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from len" -l watch -d 'Re-render the view every DURATION (e.g. 2s) until interrupted' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from len" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from len" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from len" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from len" -l json -d 'Print JSON (one object per line) instead of a table; see the README for the schema'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from len" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from len" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from len" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from help" -f -a "streams" -d 'Every stream matching a pattern: length, first/last entry, groups, pending, lag, memory'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from help" -f -a "stream" -d 'One stream as XINFO STREAM reports it'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from help" -f -a "groups" -d 'The consumer groups of a stream: consumers, pending, last-delivered-id, lag'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from help" -f -a "consumers" -d 'The consumers of a stream\'s groups: pending, idle, status'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from help" -f -a "pending" -d 'A group\'s pending entries (XPENDING), and the claim command that recovers idle ones'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from help" -f -a "len" -d 'The number of entries in a stream (XLEN)'
complete -c agentctl -n "__fish_agentctl_using_subcommand inspect; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l sdk-key -d 'SDK key whose stream to trim (stream:optimizely-sync-<SDK_KEY>)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l match -d 'SCAN MATCH pattern used with --all' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l maxlen -d 'Keep at most N entries (XTRIM MAXLEN)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l max-age -d 'Remove entries older than DURATION (XTRIM MINID now-DURATION)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l minid -d 'Remove entries whose id is lower than ID (XTRIM MINID)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l all -d 'Trim every stream matching --match'
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l exact -d 'Trim exactly (`=`) instead of approximately (`~`)'
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l dry-run -d 'Compute and print what would be removed without removing it'
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l safe -d 'Never remove entries a group has not been delivered yet or still has pending'
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -l json -d 'Print JSON (one object per line) instead of a table; see the README for the schema'
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand trim" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l sdk-key -d 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l group -d 'The consumer group whose pending entries to claim' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l to -d 'The consumer that becomes the owner of the claimed entries' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l min-idle -d 'Only entries idle for at least this long are claimed' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l count -d 'Claim at most N entries' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l from -d 'Only claim entries owned by this consumer' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l ids -d 'Claim exactly these entry ids (XCLAIM)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l dead-letter -d 'Stream that receives entries delivered more than --max-deliveries times' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l max-deliveries -d 'Delivery count above which a claimed entry goes to --dead-letter' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l delete-consumer -d 'Afterwards, delete this consumer from the group if it holds no pending entries' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l delete-idle-groups -d 'Instead of claiming: delete the stream\'s consumer groups whose consumers have all been idle at least this long (with their pending entries)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l dry-run -d 'Show what would be claimed without claiming'
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -l json -d 'Print JSON (one object per line) instead of a table; see the README for the schema'
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand claim" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand completions" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand completions" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand completions" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand completions" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand generate-secret" -l config -d 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand generate-secret" -l redis -d 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand generate-secret" -l color -d 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'On a terminal, unless the NO_COLOR environment variable is set'
always\t'Always, even into a pipe or with NO_COLOR'
never\t'Never'"
complete -c agentctl -n "__fish_agentctl_using_subcommand generate-secret" -l json -d 'Print `{"clientSecret":…,"secretHash":…}` instead of two labelled lines'
complete -c agentctl -n "__fish_agentctl_using_subcommand generate-secret" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
complete -c agentctl -n "__fish_agentctl_using_subcommand generate-secret" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentctl -n "__fish_agentctl_using_subcommand generate-secret" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from serve subscribe burst inspect trim claim completions generate-secret help" -f -a "serve" -d 'Run the Agent-compatible HTTP service: decisions, track, the SSE notification stream, webhook and admin endpoints'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from serve subscribe burst inspect trim claim completions generate-secret help" -f -a "subscribe" -d 'Follow the SSE notification stream of an Agent'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from serve subscribe burst inspect trim claim completions generate-secret help" -f -a "burst" -d 'Generate load against an Agent and verify delivery'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from serve subscribe burst inspect trim claim completions generate-secret help" -f -a "inspect" -d 'Operator views of the Redis side: streams, groups, consumers, pending entries'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from serve subscribe burst inspect trim claim completions generate-secret help" -f -a "trim" -d 'Remove old entries from notification streams (XTRIM by MAXLEN or MINID)'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from serve subscribe burst inspect trim claim completions generate-secret help" -f -a "claim" -d 'Move stuck pending entries to a live consumer (XAUTOCLAIM / XCLAIM)'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from serve subscribe burst inspect trim claim completions generate-secret help" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from serve subscribe burst inspect trim claim completions generate-secret help" -f -a "generate-secret" -d 'Make a client secret and its secretHash for token authentication'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from serve subscribe burst inspect trim claim completions generate-secret help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from inspect" -f -a "streams" -d 'Every stream matching a pattern: length, first/last entry, groups, pending, lag, memory'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from inspect" -f -a "stream" -d 'One stream as XINFO STREAM reports it'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from inspect" -f -a "groups" -d 'The consumer groups of a stream: consumers, pending, last-delivered-id, lag'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from inspect" -f -a "consumers" -d 'The consumers of a stream\'s groups: pending, idle, status'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from inspect" -f -a "pending" -d 'A group\'s pending entries (XPENDING), and the claim command that recovers idle ones'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from inspect" -f -a "len" -d 'The number of entries in a stream (XLEN)'
