/*
 * relog wire contract, shared by librelog (shim/) and relogd (daemon/).
 * PROTOCOL.md beside this file is the prose version; keep the two in step.
 *
 * Compatible with the Python plugin runtime's runner IPC: every frame is a
 * 4-byte big-endian length, then one msgpack map (the envelope).
 *
 * Bump RELOG_PROTOCOL_VERSION on any change a deployed peer would notice.
 */
#ifndef RELOG_PROTOCOL_H
#define RELOG_PROTOCOL_H

#define RELOG_PROTOCOL_VERSION "1.0.0"

/* Where relogd listens unless told otherwise. */
#define RELOG_SOCKET_DEFAULT "/run/relogd/relogd.sock"

/* Framing. */
#define RELOG_FRAME_HEADER_SIZE 4
#define RELOG_FRAME_MAX_DEFAULT (1u << 20)	/* relogd's default limit */
#define RELOG_FRAME_MAX_LIMIT (16u << 20)	/* the Python runtime's cap */
/* The most relogd reads of a connection before its hello is accepted. */
#define RELOG_HELLO_FRAME_MAX (16u << 10)
/*
 * The least relogd may be set to accept: librelog cuts batches at 256 KiB
 * of records, and one record may pass that by up to three 64 KiB texts.
 */
#define RELOG_FRAME_MIN (512u << 10)

/* Deepest msgpack nesting relogd decodes (msgpack-c's own stack is 32). */
#define RELOG_NEST_MAX 32

/* Methods. */
#define RELOG_METHOD_HELLO "runner.hello"
#define RELOG_METHOD_LOG_BATCH "runner.log_batch"
/* A ring runner's: answered once relogd committed past a position. */
#define RELOG_METHOD_RING_SYNC "runner.ring_sync"
/* relogd's admin methods, for relogctl (relog's own). */
#define RELOG_METHOD_STATS "relogd.stats"
#define RELOG_METHOD_TAIL "relogd.tail"
#define RELOG_METHOD_REOPEN "relogd.reopen"
#define RELOG_METHOD_GRANT "relogd.grant"	/* a plugin's token */
#define RELOG_METHOD_REVOKE "relogd.revoke"
#define RELOG_METHOD_RECORD "relogd.record"	/* a tailed record */
#define RELOG_METHOD_DROPPED "relogd.dropped"	/* records a tail missed */

/* message_type values. */
#define RELOG_TYPE_REQUEST "request"
#define RELOG_TYPE_RESPONSE "response"
#define RELOG_TYPE_BROADCAST "broadcast"

#define RELOG_TIMEOUT_MS_DEFAULT 30000

/* Error codes, sent as strings in a response's error.code. */
#define RELOG_E_BAD_PAYLOAD "E_BAD_PAYLOAD"
#define RELOG_E_PROTOCOL_MISMATCH "E_PROTOCOL_MISMATCH"
#define RELOG_E_UNAUTHORIZED "E_UNAUTHORIZED"
#define RELOG_E_METHOD_NOT_ALLOWED "E_METHOD_NOT_ALLOWED"
#define RELOG_E_SHUTTING_DOWN "E_SHUTTING_DOWN"
#define RELOG_E_BACK_PRESSURE "E_BACK_PRESSURE"

/* msgpack ext types the Python runtime may send (ISO 8601 strings). */
#define RELOG_EXT_DATETIME 42
#define RELOG_EXT_DATE 43

/* Log levels: Python's logging numbers; any other number is kept as is. */
#define RELOG_LEVEL_DEBUG 10
#define RELOG_LEVEL_INFO 20
#define RELOG_LEVEL_WARNING 30
#define RELOG_LEVEL_ERROR 40
#define RELOG_LEVEL_CRITICAL 50
#define RELOG_LEVEL_MAX 1000	/* the highest a level setting may name */

/* syslog priorities of levels (the <N> prefix journald reads). */
#define RELOG_PRI_CRIT 2	/* CRITICAL and above */
#define RELOG_PRI_ERR 3		/* ERROR and above */
#define RELOG_PRI_WARNING 4
#define RELOG_PRI_INFO 6
#define RELOG_PRI_DEBUG 7	/* below INFO */

/* Logger-name prefixes that name a plugin: "plugin.<id>[.rest]". */
#define RELOG_PLUGIN_PREFIX "plugin."
#define RELOG_MAIBOT_PREFIX "_maibot_plugin_"
#define RELOG_RUNTIME_PREFIX "plugin_runtime."

/* A plugin or runner id: what relogd accepts as a log file name. */
#define RELOG_ID_MAX 64

/*
 * relogd's own logs, homes of records of no plugin (a runner's, and past
 * max_plugins): ids no hello and no logger may name.
 */
#define RELOG_PLUGIN_RUNTIME "_runtime"
#define RELOG_PLUGIN_UNROUTED "_unrouted"

/* Plugin ids a runner's hello may list (plugin_ids, relog's extension). */
#define RELOG_HELLO_PLUGINS_MAX 256

/* relogd.tail: plugins one tail may name, and past records it may ask. */
#define RELOG_TAIL_PLUGINS_MAX 8
#define RELOG_TAIL_LINES_MAX 256

#endif
