/*
 * Which plugin a record belongs to (PROTOCOL.md, "Which plugin a record
 * belongs to"). Plugin ids may hold dots and hyphens, so a logger name
 * "plugin.a.b.c" may belong to plugin a, a.b or a.b.c; and the Python
 * runtime's module loggers name a plugin by its mangled id,
 * "_maibot_plugin_<id with every byte outside [0-9A-Za-z_] as '_'>".
 *
 * relogd knows ids from its configuration ([plugin.ID] sections), from
 * hellos (plugin_id, plugin_ids), and from the records themselves: the
 * runtime's ctx.logger is exactly "plugin.<id>". The rule:
 *  1. a connection bound to a plugin (its hello's plugin_id) writes there;
 *  2. "plugin.<rest>": the longest known id that is rest, or that rest
 *     continues with a dot;
 *  3. "_maibot_plugin_<m>[.<x>]": the known id that mangles to m (the
 *     connection's own first); two that do make it ambiguous;
 *  4. an unknown "plugin.<rest>" teaches an id: the longest dot-prefix of
 *     rest whose mangled form a module logger showed, else rest itself;
 *     ids learned so that extend the new one by a dot were its children,
 *     and retire. (Fluent tags teach their first dot segment instead.)
 *  5. anything else, and what the rules leave, goes to the connection's
 *     home: "_runtime" for runners, "fluent" for Fluent clients.
 * An owned plugin (owner.c) takes records only from connections that
 * proved it, and so do its dotted children (bank owns bank.audit); those
 * of others go to _unrouted.
 */
#include <stdlib.h>
#include <string.h>

#include "relogd.h"

#define ROUTE_BUCKETS 1024
#define ROUTE_SEEN_MAX 1024		/* mangled ids seen, not known yet */

/* A mangled id and the plugin it stands for (or, seen, none yet). */
struct route_mangled {
	char name[RELOG_ID_MAX + 1];
	struct plugin *plugin;		/* NULL: seen in a module logger only */
	int warned;			/* two plugins mangle alike: said */
	struct route_mangled *next;
};

static struct route_mangled *route_table[ROUTE_BUCKETS];
static size_t route_nseen;
static uint64_t route_changed;	/* ids declared, learned or retired */

static void route_adopt(struct plugin *);

/* FNV-1a of a name, for the table. */
static unsigned
route_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return (h % ROUTE_BUCKETS);
}

/* An id as the runtime's module names have it, into out (NUL-ended). */
static size_t
route_mangle(const char *id, size_t len, char *out)
{
	size_t i;
	char c;

	for (i = 0; i < len; i++) {
		c = id[i];
		out[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' ? c : '_';
	}
	out[len] = '\0';
	return (len);
}

/* Add an entry for a mangled name (a plugin's, or one only seen). */
static struct route_mangled *
route_add(const char *m, size_t len, struct plugin *p)
{
	struct route_mangled *e;
	unsigned b = route_hash(m, len);

	if ((e = calloc(1, sizeof *e)) == NULL)
		fatal("calloc");
	memcpy(e->name, m, len);
	e->plugin = p;
	e->next = route_table[b];
	route_table[b] = e;
	return (e);
}

/* Note a plugin's mangled id (once), so its module loggers find it. */
static void
route_know(struct plugin *p)
{
	struct route_mangled *e;
	char m[RELOG_ID_MAX + 1];
	size_t len;

	if (p->mangled_known)
		return;
	p->mangled_known = 1;
	len = route_mangle(p->id, p->id_len, m);
	for (e = route_table[route_hash(m, len)]; e != NULL; e = e->next) {
		if (strcmp(e->name, m) == 0 && e->plugin == NULL) {
			e->plugin = p;	/* seen before it was known */
			route_nseen--;
			return;
		}
	}
	route_add(m, len, p);
}

/*
 * Make an id known (configured, uid (uid_t)-1, or named by a hello of
 * uid): its plugin, made if needed, never retired; ids learned so far
 * that continue it with a dot were its child loggers. NULL if it is not a
 * safe id or too many exist.
 */
struct plugin *
route_declare(const char *id, size_t len, uid_t uid)
{
	struct plugin *p = plugin_get(id, len, uid);

	if (p == NULL)
		return (NULL);
	if (p->learned || !p->mangled_known)
		route_adopt(p);
	if (p->learned || p->retired)
		route_changed++;
	p->learned = p->retired = 0;
	return (p);
}

/*
 * Make every [plugin.ID] section's id known, and every granted one (at
 * start and reload; a grant declares its own): an owned plugin is there
 * to own its dotted children (route_owner).
 */
void
route_config(void)
{
	const struct plugin_config *pc;
	const char *id;
	size_t i;

	for (pc = relogd_config.plugins; pc != NULL; pc = pc->next) {
		if (strcmp(pc->name, "*") != 0)
			route_declare(pc->name, strlen(pc->name), (uid_t)-1);
	}
	for (i = 0; (id = owner_granted(i)) != NULL; i++)
		route_declare(id, strlen(id), (uid_t)-1);
}

/* The length of id's nearest dot-prefix ("a.b" of "a.b.c"), or 0. */
static size_t
route_up(const char *id, size_t len)
{
	while (len > 0 && id[len - 1] != '.')
		len--;
	return (len > 1 ? len - 1 : 0);
}

/*
 * The owned plugin whose records p's are: p if it is owned, else its
 * nearest owned dot-prefix (an owned plugin's children are its own: a
 * bank.audit another made up takes nothing of bank's); NULL if none is.
 */
static struct plugin *
route_owner(struct plugin *p)
{
	const char *id = p->id;
	size_t len = p->id_len;

	for (;;) {
		if (p != NULL && p->owned)
			return (p);
		if ((len = route_up(id, len)) == 0)
			return (NULL);
		p = plugin_find(id, len);
	}
}

/*
 * The same at a hello, for an id that may not be a plugin yet: the length
 * of the id whose proof naming it takes (id itself, or its nearest owned
 * dot-prefix), with that one's settings in *set; 0 if none is owned.
 */
size_t
route_owner_len(const char *id, size_t len, struct plugin_settings *set)
{
	char name[RELOG_ID_MAX + 1];

	if (len > RELOG_ID_MAX)
		return (0);
	for (; len != 0; len = route_up(id, len)) {
		memcpy(name, id, len);
		name[len] = '\0';
		config_plugin(&relogd_config, name, set);
		if (owner_owned(name, set))
			return (len);
	}
	return (0);
}

/*
 * A plugin that may take records by its logger: known, not retired, and
 * not one of relogd's own logs.
 */
static struct plugin *
route_live(const char *id, size_t len)
{
	struct plugin *p = plugin_find(id, len);

	return (p != NULL && !p->retired && !p->own_log ? p : NULL);
}

/* The longest known id that rest is, or continues with a dot. */
static struct plugin *
route_longest(struct proto_str rest)
{
	struct plugin *p;
	size_t len = rest.len;

	for (; len != 0; len = route_up(rest.ptr, len)) {
		if ((p = route_live(rest.ptr, len)) != NULL)
			return (p);
	}
	return (NULL);
}

/* Was a mangled name seen in a module logger, its id not known yet? */
static int
route_seen(const char *id, size_t len)
{
	struct route_mangled *e;
	char m[RELOG_ID_MAX + 1];

	if (len > RELOG_ID_MAX)
		return (0);
	route_mangle(id, len, m);
	for (e = route_table[route_hash(m, len)]; e != NULL; e = e->next) {
		if (strcmp(e->name, m) == 0)
			return (e->plugin == NULL);
	}
	return (0);
}

/* What the retiring of children carries. */
struct route_parent {
	const char *id;
	size_t len;
};

/* A learned id that extends the parent by a dot was its child: retire it. */
static void
route_retire_child(struct plugin *p, void *arg)
{
	const struct route_parent *parent = arg;

	if (!p->learned || p->retired || p->owned ||
	    p->id_len <= parent->len ||
	    memcmp(p->id, parent->id, parent->len) != 0 ||
	    p->id[parent->len] != '.')
		return;
	p->retired = 1;
	route_changed++;
	log_info("plugin %s: learned as an id, now taken as a logger of "
	    "plugin %s", p->id, parent->id);
}

/*
 * Learn the id an unknown "plugin.<rest>" names: the longest dot-prefix
 * of rest whose mangled form a module logger showed, else the longest
 * that is a safe id (rest itself, mostly). A Fluent tag names its first
 * dot segment instead. NULL if no prefix is a safe id; past max_plugins,
 * the logger of unrouted records.
 */
static struct plugin *
route_learn(const struct origin *o, struct proto_str rest)
{
	struct plugin *p;
	size_t len = 0, cut;

	for (cut = rest.len; cut > 0; cut--) {
		if (cut != rest.len && rest.ptr[cut] != '.')
			continue;
		if (!proto_id_valid(rest.ptr, cut))
			continue;
		if (!o->learn)
			len = cut;	/* the first segment: go on */
		else if (len == 0)
			len = cut;	/* the longest safe one */
		if (o->learn && route_seen(rest.ptr, cut)) {
			len = cut;
			break;
		}
	}
	/* Not known (route_longest looked), or retired: learned now. */
	if (len == 0)
		return (NULL);
	/* None past max_plugins: _unrouted then. */
	if ((p = plugin_get(rest.ptr, len, o->uid)) == NULL)
		return (plugin_special(RELOG_PLUGIN_UNROUTED));
	if (p->own_log)
		return (NULL);		/* the connection's home, then */
	if (!o->learn)
		return (p);
	p->learned = 1;
	p->retired = 0;
	route_adopt(p);
	route_changed++;
	return (p);
}

/*
 * p's id is known from now on: its mangled id too, and the ids learned
 * before that continue it with a dot retire (they were its loggers).
 */
static void
route_adopt(struct plugin *p)
{
	struct route_parent parent = { p->id, p->id_len };

	route_know(p);
	plugin_foreach(route_retire_child, &parent);
}

/* Is p among the plugins the connection's hello listed? */
static int
route_hosted(const struct origin *o, const struct plugin *p)
{
	size_t i;

	for (i = 0; i < o->nhosted; i++) {
		if (o->hosted[i] == p)
			return (1);
	}
	return (0);
}

/*
 * The plugin a "_maibot_plugin_<m>[.<x>]" logger names: the one known id
 * that mangles to m, or the one of those the connection's hello listed.
 * NULL when none does (m is then noted, for learning) or when that leaves
 * more than one (said once).
 */
static struct plugin *
route_mangled(const struct origin *o, struct proto_str rest)
{
	struct route_mangled *e, *any = NULL, *own = NULL;
	const char *dot = memchr(rest.ptr, '.', rest.len);
	size_t len = dot != NULL ? (size_t)(dot - rest.ptr) : rest.len;
	int nany = 0, nown = 0;

	if (len == 0 || len > RELOG_ID_MAX)
		return (NULL);
	for (e = route_table[route_hash(rest.ptr, len)]; e != NULL;
	    e = e->next) {
		if (strlen(e->name) != len || memcmp(e->name, rest.ptr,
		    len) != 0)
			continue;
		if (e->plugin == NULL)
			return (NULL);	/* seen, not known yet */
		if (e->plugin->retired || e->plugin->own_log)
			continue;
		any = e;
		nany++;
		if (route_hosted(o, e->plugin)) {
			own = e;
			nown++;
		}
	}
	if (nown == 1)
		return (own->plugin);
	if (nany == 1 && nown == 0)
		return (any->plugin);
	if (any != NULL) {
		if (!any->warned)
			log_warn("logger %s%.*s: %d plugins have ids that "
			    "read %s; its records go to %s.log",
			    RELOG_MAIBOT_PREFIX, (int)rest.len, rest.ptr,
			    nown > 1 ? nown : nany, any->name, o->home);
		any->warned = 1;
		return (NULL);
	}
	if (route_nseen < ROUTE_SEEN_MAX && proto_id_valid(rest.ptr, len)) {
		route_add(rest.ptr, len, NULL);
		route_nseen++;
	}
	return (NULL);
}

/*
 * The connection's home, for records of no plugin: made when first
 * needed; past max_plugins, the one for unrouted records.
 */
struct plugin *
route_home(struct origin *o)
{
	if (o->own == NULL)
		o->own = plugin_special(o->home);
	return (o->own != NULL ? o->own :
	    plugin_special(RELOG_PLUGIN_UNROUTED));
}

/* Does the connection prove p now: by its uid, or its hello's token? */
static int
route_proves(const struct origin *o, const struct plugin *p)
{
	return (owner_uid(&p->set, o->uid) || (o->token != NULL &&
	    owner_token(p->id, &p->set, proto_cstr(o->token))));
}

/*
 * Owners may have changed since the connection's hello (a grant, a revoke,
 * a reload): what it named then, and proves no more, it may not write
 * into. Its plugin's records go to _unrouted; a plugin it hosted is
 * hosted no more.
 */
static void
route_reprove(struct origin *o)
{
	uint64_t gen = plugin_changes() + 1;
	struct plugin *owner;
	size_t i, n = 0;

	if (o->proof_gen == gen)
		return;
	o->proof_gen = gen;
	if (o->plugin != NULL)
		o->plugin_ok = !o->plugin->file_taken &&
		    ((owner = route_owner(o->plugin)) == NULL ||
		    route_proves(o, owner));
	for (i = 0; i < o->nhosted; i++) {
		if (o->hosted[i]->file_taken)
			continue;
		if ((owner = route_owner(o->hosted[i])) == NULL ||
		    route_proves(o, owner))
			o->hosted[n++] = o->hosted[i];
	}
	o->nhosted = n;
}

/*
 * May this connection write into p: its own or a child of an owned
 * plugin (route_owner)? If it hosts p, or the owner, proved
 * (route_reprove), or is of one of the owner's uids.
 */
static int
route_may(const struct origin *o, struct plugin *p)
{
	struct plugin *owner = route_owner(p);

	if (p->file_taken)
		return (0);
	return (owner == NULL || route_hosted(o, p) ||
	    route_hosted(o, owner) || owner_uid(&owner->set, o->uid));
}

/*
 * Records aimed at an owned plugin by a connection that did not prove it
 * go to _unrouted instead, counted, said once per connection.
 */
static struct plugin *
route_refuse(struct origin *o, struct plugin *p)
{
	p->refused++;
	if (!o->said_refused)
		log_peer("pid %ld uid %ld (runner %s) aimed records at plugin "
		    "%s, which it does not own: they go to %s.log",
		    (long)o->pid, (long)o->uid, o->runner_id, p->id,
		    RELOG_PLUGIN_UNROUTED);
	o->said_refused = 1;
	return (plugin_special(RELOG_PLUGIN_UNROUTED));
}

/*
 * What the routes depend on besides the name and the connection: it moves
 * whenever a plugin is made, declared, learned, retired, reconfigured or
 * its owners change.
 */
static uint64_t
route_gen(void)
{
	return (route_changed + plugin_changes());
}

/*
 * The plugin the connection's last "plugin.<rest>" logger went to, if
 * this record's logger is the same and nothing changed since: a runner's
 * records mostly repeat a name, and the lookup of each of its dot prefixes
 * was a tenth of relogd's time per record. NULL when it must be looked up.
 */
static struct plugin *
route_memo_get(const struct origin *o, struct proto_str name)
{
	if (o->memo_len != name.len || o->memo_gen != route_gen() ||
	    memcmp(o->memo_name, name.ptr, name.len) != 0)
		return (NULL);
	return (o->memo);
}

/* Keep where a logger went (a name too long is not kept). */
static void
route_memo_put(struct origin *o, struct proto_str name, struct plugin *p)
{
	o->memo_len = 0;
	if (name.len > sizeof o->memo_name)
		return;
	memcpy(o->memo_name, name.ptr, name.len);
	o->memo_len = name.len;
	o->memo = p;
	o->memo_gen = route_gen();
}

/* The plugin a record of this logger belongs to (see the rule above). */
struct plugin *
route_record(struct origin *o, struct proto_str name)
{
	static const size_t plen = sizeof RELOG_PLUGIN_PREFIX - 1;
	static const size_t mlen = sizeof RELOG_MAIBOT_PREFIX - 1;
	struct proto_str rest;
	struct plugin *p = NULL;
	int lookup = 0;

	if (o->plugin != NULL)
		return (route_own(o));
	route_reprove(o);
	if (name.len > plen && memcmp(name.ptr, RELOG_PLUGIN_PREFIX,
	    plen) == 0) {
		if ((p = route_memo_get(o, name)) != NULL)
			return (p);
		rest = (struct proto_str){ name.ptr + plen, name.len - plen };
		if ((p = route_longest(rest)) == NULL)
			p = route_learn(o, rest);
		lookup = 1;
	} else if (name.len > mlen && memcmp(name.ptr, RELOG_MAIBOT_PREFIX,
	    mlen) == 0)
		p = route_mangled(o, (struct proto_str){ name.ptr + mlen,
		    name.len - mlen });
	/* Refused records are counted one by one: never from the memo. */
	if (p != NULL && !route_may(o, p))
		return (route_refuse(o, p));
	if (lookup && p != NULL)
		route_memo_put(o, name, p);
	return (p != NULL ? p : route_home(o));
}

/*
 * Where the connection's own notices go: its hello's plugin while it may
 * write there, else its home.
 */
struct plugin *
route_own(struct origin *o)
{
	route_reprove(o);
	if (o->plugin == NULL)
		return (route_home(o));
	return (o->plugin_ok ? o->plugin : route_refuse(o, o->plugin));
}

/* Free the tables (at exit). */
void
route_free(void)
{
	struct route_mangled *e, *next;
	size_t i;

	for (i = 0; i < ROUTE_BUCKETS; i++) {
		for (e = route_table[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
		route_table[i] = NULL;
	}
	route_nseen = 0;
}
