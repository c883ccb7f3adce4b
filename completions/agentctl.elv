
use builtin;
use str;

set edit:completion:arg-completer[agentctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'agentctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'agentctl'= {
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run the Agent-compatible HTTP service: decisions, track, the SSE notification stream, webhook and admin endpoints'
            cand subscribe 'Follow the SSE notification stream of an Agent'
            cand burst 'Generate load against an Agent and verify delivery'
            cand inspect 'Operator views of the Redis side: streams, groups, consumers, pending entries'
            cand trim 'Remove old entries from notification streams (XTRIM by MAXLEN or MINID)'
            cand claim 'Move stuck pending entries to a live consumer (XAUTOCLAIM / XCLAIM)'
            cand completions 'Print a shell completion script to stdout'
            cand generate-secret 'Make a client secret and its secretHash for token authentication'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'agentctl;serve'= {
            cand --api-addr 'API listener address (port 0 picks a free port). Default: server.host:api.port'
            cand --admin-addr 'Admin listener address. Default: server.host:admin.port'
            cand --webhook-addr 'Webhook listener address. Default: server.host:webhook.port'
            cand --datafiles 'Directory of datafiles named `<sdkKey>.json`'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;subscribe'= {
            cand --url 'Base URL of the Agent''s API listener (`host:port` means http://host:port). Repeatable or comma-separated: a dropped connection resumes on the next one (round robin). Default: the API address of the config (server.host:api.port)'
            cand --sdk-key 'SDK key sent in X-Optimizely-SDK-Key. Default: the only datafile in ./datafiles, else the only key of sdkKeys in the config'
            cand --filter 'Only these kinds (repeatable or comma-separated)'
            cand --format 'Output format [default: pretty on a terminal, else json]'
            cand --count 'Exit 0 after N notifications'
            cand --timeout 'Exit 0 after this long'
            cand --last-event-id 'Resume after this notification id (sent as Last-Event-ID)'
            cand --group 'Read as a consumer of this durable consumer group (Redis Streams servers)'
            cand --consumer 'The consumer name within --group (default: the server picks one)'
            cand --header 'Extra request header `NAME: VALUE` (repeatable)'
            cand --cacert 'Trust the CA certificates in this PEM file (for https URLs)'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --json 'The same as --format json'
            cand --from-start 'Replay everything the server retains first (Last-Event-ID 0-0)'
            cand --until-caught-up 'Exit 0 once the replay asked for with --from-start or --last-event-id is done'
            cand --no-reconnect 'Exit 1 when the connection drops instead of reconnecting'
            cand --insecure 'Do not verify the server''s TLS certificate'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;burst'= {
            cand --url 'Base URL of the Agent''s API listener (`host:port` means http://host:port). Default: the API address of the config (server.host:api.port)'
            cand --sdk-key 'SDK key sent in X-Optimizely-SDK-Key. Default: the only datafile in ./datafiles, else the only key of sdkKeys in the config'
            cand --header 'Extra request header `NAME: VALUE` on every request and subscription (repeatable), e.g. `Authorization: Bearer TOKEN` for an Agent with api.auth'
            cand --endpoint 'The endpoint to load'
            cand --requests 'Send this many requests [default: 20]'
            cand --duration 'Send for this long instead of a number of requests'
            cand --concurrency 'Requests in flight at once: the workers of the closed model, or the cap on outstanding requests with --rate [default: 1, or 1000 with --rate]'
            cand --rate 'Start requests at this constant rate per second (open model)'
            cand --flags 'Flag keys for decide and activate, comma-separated; requests cycle through them (decide without flags decides every flag)'
            cand --users 'Cycle through this many distinct user ids (default: one per request)'
            cand --attributes 'User attributes sent with every request (a JSON object)'
            cand --event-key 'Event key for track (required for track and mix)'
            cand --subscribers 'Number of SSE subscribers opened by --verify'
            cand --subscribe-url 'Base URL the subscribers connect to (repeatable or comma-separated; they are spread over all of them, and a subscriber whose connection drops resumes on the next one). Default: --url'
            cand --timeseries 'Add one report row per interval of this length'
            cand --threshold 'Fail (exit 1) unless this holds: `p50|p90|p99|p99.9|max|mean OP DURATION`, `errors|lost|duplicated OP N` or `rate OP R`, OP one of < <= > >= ='
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --verify 'Subscribe to the notification stream first and check every request''s notifications arrive at every subscriber'
            cand --json 'Print the whole report as one JSON object'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;inspect'= {
            cand --watch 'Re-render the view every DURATION (e.g. 2s) until interrupted'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --json 'Print JSON (one object per line) instead of a table; see the README for the schema'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand streams 'Every stream matching a pattern: length, first/last entry, groups, pending, lag, memory'
            cand stream 'One stream as XINFO STREAM reports it'
            cand groups 'The consumer groups of a stream: consumers, pending, last-delivered-id, lag'
            cand consumers 'The consumers of a stream''s groups: pending, idle, status'
            cand pending 'A group''s pending entries (XPENDING), and the claim command that recovers idle ones'
            cand len 'The number of entries in a stream (XLEN)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'agentctl;inspect;streams'= {
            cand --match 'SCAN MATCH pattern selecting the streams'
            cand --watch 'Re-render the view every DURATION (e.g. 2s) until interrupted'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --json 'Print JSON (one object per line) instead of a table; see the README for the schema'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;inspect;stream'= {
            cand --sdk-key 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config'
            cand --watch 'Re-render the view every DURATION (e.g. 2s) until interrupted'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --json 'Print JSON (one object per line) instead of a table; see the README for the schema'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;inspect;groups'= {
            cand --sdk-key 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config'
            cand --watch 'Re-render the view every DURATION (e.g. 2s) until interrupted'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --json 'Print JSON (one object per line) instead of a table; see the README for the schema'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;inspect;consumers'= {
            cand --sdk-key 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config'
            cand --group 'Only this group (default: every group of the stream)'
            cand --dead-after 'A consumer idle for at least this long is reported as dead'
            cand --watch 'Re-render the view every DURATION (e.g. 2s) until interrupted'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --json 'Print JSON (one object per line) instead of a table; see the README for the schema'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;inspect;pending'= {
            cand --sdk-key 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config'
            cand --group 'The consumer group. Default: notifications, else the stream''s only group'
            cand --consumer 'Only entries owned by this consumer'
            cand --min-idle 'Entries idle for at least this long are counted as claimable'
            cand --count 'At most this many entries are listed'
            cand --watch 'Re-render the view every DURATION (e.g. 2s) until interrupted'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --json 'Print JSON (one object per line) instead of a table; see the README for the schema'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;inspect;len'= {
            cand --sdk-key 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config'
            cand --watch 'Re-render the view every DURATION (e.g. 2s) until interrupted'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --json 'Print JSON (one object per line) instead of a table; see the README for the schema'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;inspect;help'= {
            cand streams 'Every stream matching a pattern: length, first/last entry, groups, pending, lag, memory'
            cand stream 'One stream as XINFO STREAM reports it'
            cand groups 'The consumer groups of a stream: consumers, pending, last-delivered-id, lag'
            cand consumers 'The consumers of a stream''s groups: pending, idle, status'
            cand pending 'A group''s pending entries (XPENDING), and the claim command that recovers idle ones'
            cand len 'The number of entries in a stream (XLEN)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'agentctl;inspect;help;streams'= {
        }
        &'agentctl;inspect;help;stream'= {
        }
        &'agentctl;inspect;help;groups'= {
        }
        &'agentctl;inspect;help;consumers'= {
        }
        &'agentctl;inspect;help;pending'= {
        }
        &'agentctl;inspect;help;len'= {
        }
        &'agentctl;inspect;help;help'= {
        }
        &'agentctl;trim'= {
            cand --sdk-key 'SDK key whose stream to trim (stream:optimizely-sync-<SDK_KEY>)'
            cand --match 'SCAN MATCH pattern used with --all'
            cand --maxlen 'Keep at most N entries (XTRIM MAXLEN)'
            cand --max-age 'Remove entries older than DURATION (XTRIM MINID now-DURATION)'
            cand --minid 'Remove entries whose id is lower than ID (XTRIM MINID)'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --all 'Trim every stream matching --match'
            cand --exact 'Trim exactly (`=`) instead of approximately (`~`)'
            cand --dry-run 'Compute and print what would be removed without removing it'
            cand --safe 'Never remove entries a group has not been delivered yet or still has pending'
            cand --json 'Print JSON (one object per line) instead of a table; see the README for the schema'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;claim'= {
            cand --sdk-key 'SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default: AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of sdkKeys in the config'
            cand --group 'The consumer group whose pending entries to claim'
            cand --to 'The consumer that becomes the owner of the claimed entries'
            cand --min-idle 'Only entries idle for at least this long are claimed'
            cand --count 'Claim at most N entries'
            cand --from 'Only claim entries owned by this consumer'
            cand --ids 'Claim exactly these entry ids (XCLAIM)'
            cand --dead-letter 'Stream that receives entries delivered more than --max-deliveries times'
            cand --max-deliveries 'Delivery count above which a claimed entry goes to --dead-letter'
            cand --delete-consumer 'Afterwards, delete this consumer from the group if it holds no pending entries'
            cand --delete-idle-groups 'Instead of claiming: delete the stream''s consumer groups whose consumers have all been idle at least this long (with their pending entries)'
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --dry-run 'Show what would be claimed without claiming'
            cand --json 'Print JSON (one object per line) instead of a table; see the README for the schema'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;completions'= {
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;generate-secret'= {
            cand --config 'Configuration file (upstream Agent config.yaml format). Without it, ./config.yaml is read when present'
            cand --redis 'Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary that sentinels monitor as NAME. Overrides synchronization.pubsub.redis (host, cluster and sentinel); with `serve` it also turns notification sync through Redis on. inspect, trim and claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set'
            cand --color 'When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never'
            cand --json 'Print `{"clientSecret":…,"secretHash":…}` instead of two labelled lines'
            cand -v 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). RUST_LOG overrides'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'agentctl;help'= {
            cand serve 'Run the Agent-compatible HTTP service: decisions, track, the SSE notification stream, webhook and admin endpoints'
            cand subscribe 'Follow the SSE notification stream of an Agent'
            cand burst 'Generate load against an Agent and verify delivery'
            cand inspect 'Operator views of the Redis side: streams, groups, consumers, pending entries'
            cand trim 'Remove old entries from notification streams (XTRIM by MAXLEN or MINID)'
            cand claim 'Move stuck pending entries to a live consumer (XAUTOCLAIM / XCLAIM)'
            cand completions 'Print a shell completion script to stdout'
            cand generate-secret 'Make a client secret and its secretHash for token authentication'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'agentctl;help;serve'= {
        }
        &'agentctl;help;subscribe'= {
        }
        &'agentctl;help;burst'= {
        }
        &'agentctl;help;inspect'= {
            cand streams 'Every stream matching a pattern: length, first/last entry, groups, pending, lag, memory'
            cand stream 'One stream as XINFO STREAM reports it'
            cand groups 'The consumer groups of a stream: consumers, pending, last-delivered-id, lag'
            cand consumers 'The consumers of a stream''s groups: pending, idle, status'
            cand pending 'A group''s pending entries (XPENDING), and the claim command that recovers idle ones'
            cand len 'The number of entries in a stream (XLEN)'
        }
        &'agentctl;help;inspect;streams'= {
        }
        &'agentctl;help;inspect;stream'= {
        }
        &'agentctl;help;inspect;groups'= {
        }
        &'agentctl;help;inspect;consumers'= {
        }
        &'agentctl;help;inspect;pending'= {
        }
        &'agentctl;help;inspect;len'= {
        }
        &'agentctl;help;trim'= {
        }
        &'agentctl;help;claim'= {
        }
        &'agentctl;help;completions'= {
        }
        &'agentctl;help;generate-secret'= {
        }
        &'agentctl;help;help'= {
        }
    ]
    $completions[$command]
}
