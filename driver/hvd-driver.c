/*
 * hvd-driver.c: libvirt's connection and domain API on one Hyper-V host
 *
 * The host owns every fact. The driver keeps a cache of its virtual
 * machines (names, GUIDs, states, memory and processors) refreshed by one
 * enumeration whenever it is older than the poll interval, after each
 * operation the driver makes, and by the poller while event listeners
 * are there; comparing one picture with the next gives lifecycle events.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <string.h>

#include "hvd-domain-xml.h"
#include "hvd-driver-private.h"

G_DEFINE_QUARK(hvd - error - hyperv, hvd_error_hyperv)
G_DEFINE_QUARK(hvd - error - snapshot, hvd_error_snapshot)
G_DEFINE_QUARK(hvd - error - checkpoint, hvd_error_checkpoint)

int
hvd_error_vir_domain(const GError *error)
{
    if (error->domain == HVD_ERROR_SNAPSHOT)
        return VIR_FROM_DOMAIN_SNAPSHOT;
    if (error->domain == HVD_ERROR_CHECKPOINT)
        return VIR_FROM_DOMAIN_CHECKPOINT;
    return VIR_FROM_HYPERV;
}

/* libvirt's wording of each code, so that messages read as its own do */
static const char *
code_prefix(int code)
{
    switch (code) {
    case VIR_ERR_INTERNAL_ERROR:
        return _("internal error");
    case VIR_ERR_NO_SUPPORT:
        return _("this function is not supported by the connection driver");
    case VIR_ERR_INVALID_ARG:
        return _("invalid argument");
    case VIR_ERR_OPERATION_FAILED:
        return _("operation failed");
    case VIR_ERR_XML_ERROR:
        return _("XML error");
    case VIR_ERR_OPERATION_DENIED:
        return _("operation forbidden");
    case VIR_ERR_NO_DOMAIN:
        return _("Domain not found");
    case VIR_ERR_AUTH_FAILED:
        return _("authentication failed");
    case VIR_ERR_OPERATION_INVALID:
        return _("Requested operation is not valid");
    case VIR_ERR_CONFIG_UNSUPPORTED:
        return _("unsupported configuration");
    case VIR_ERR_OPERATION_TIMEOUT:
        return _("Timed out during operation");
    case VIR_ERR_NO_DOMAIN_SNAPSHOT:
        return _("Domain snapshot not found");
    case VIR_ERR_SNAPSHOT_REVERT_RISKY:
        return _("revert requires force");
    case VIR_ERR_OPERATION_ABORTED:
        return _("operation aborted");
    case VIR_ERR_OPERATION_UNSUPPORTED:
        return _("Operation not supported");
    case VIR_ERR_INVALID_DOMAIN_SNAPSHOT:
        return _("Invalid snapshot");
    case VIR_ERR_ARGUMENT_UNSUPPORTED:
        return _("argument unsupported");
    case VIR_ERR_NO_DOMAIN_CHECKPOINT:
        return _("Domain checkpoint not found");
    case VIR_ERR_NO_DOMAIN_BACKUP:
        return _("Domain backup job id not found");
    case VIR_ERR_CHECKPOINT_INCONSISTENT:
        return _("checkpoint inconsistent");
    default:
        return NULL;
    }
}

void
hvd_error_set(GError **error, GQuark domain, int code, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;
    const char *prefix = code_prefix(code);

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (prefix)
        g_set_error(error, domain, code, "%s: %s", prefix, msg);
    else
        g_set_error_literal(error, domain, code, msg);
}

gboolean
hvd_check_flags(guint flags, guint allowed, const char *function,
                GError **error)
{
    if ((flags & ~allowed) == 0)
        return TRUE;
    hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INVALID_ARG,
                  _("unsupported flags (0x%x) in function %s"),
                  flags & ~allowed, function);
    return FALSE;
}

gboolean
hvd_check_exclusive(guint flags, guint a, guint b, const char *a_name,
                    const char *b_name, GQuark domain, GError **error)
{
    if (!(flags & a) || !(flags & b))
        return TRUE;
    hvd_error_set(error, domain, VIR_ERR_INVALID_ARG,
                  _("flags '%s' and '%s' are mutually exclusive"), a_name,
                  b_name);
    return FALSE;
}

gboolean
hvd_check_requires(guint flags, guint a, guint b, const char *a_name,
                   const char *b_name, GQuark domain, GError **error)
{
    if (!(flags & a) || (flags & b))
        return TRUE;
    hvd_error_set(error, domain, VIR_ERR_INVALID_ARG,
                  _("flag '%s' needs flag '%s'"), a_name, b_name);
    return FALSE;
}

void
hvd_driver_map_vm_error(HvdDriver *d, const VmEntry *vm, GError **error,
                        GError *hv)
{
    if (!g_error_matches(hv, HV_ERROR, HV_ERROR_NOT_FOUND)) {
        hvd_driver_map_error(error, hv);
        return;
    }
    g_mutex_lock(&d->lock);
    d->listed_at = 0;
    g_mutex_unlock(&d->lock);
    hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_NO_DOMAIN,
                  _("domain '%s' is no longer on the host: %s"), vm->name,
                  hv->message);
    g_error_free(hv);
}

/* A failure of the host (hyperv/'s errors) as libvirt sees it */
void
hvd_driver_map_error(GError **error, GError *hv)
{
    int code = VIR_ERR_OPERATION_FAILED;

    if (hv->domain == HV_ERROR) {
        switch (hv->code) {
        case HV_ERROR_AUTH:
        case HV_ERROR_FORBIDDEN:
            code = VIR_ERR_AUTH_FAILED;
            break;
        case HV_ERROR_TIMEOUT:
            code = VIR_ERR_OPERATION_TIMEOUT;
            break;
        case HV_ERROR_CANCELLED:
            code = VIR_ERR_OPERATION_ABORTED;
            break;
        case HV_ERROR_PARSE:
        case HV_ERROR_TOO_LARGE:
            code = VIR_ERR_INTERNAL_ERROR;
            break;
        default:
            break;
        }
    } else if (hv->domain == HVD_ERROR_HYPERV ||
               hv->domain == HVD_ERROR_SNAPSHOT) {
        g_propagate_error(error, hv);
        return;
    }
    hvd_error_set(error, HVD_ERROR_HYPERV, code, "%s", hv->message);
    g_error_free(hv);
}

typedef struct {
    gint refs;
    HvdEventFunc func;
    gpointer data;
    GDestroyNotify destroy;
    gboolean removed; /* under the driver's lock */
} Listener;

static Listener *
listener_ref(Listener *l)
{
    g_atomic_int_inc(&l->refs);
    return l;
}

static void
listener_unref(gpointer p)
{
    Listener *l = p;
    if (!g_atomic_int_dec_and_test(&l->refs))
        return;
    if (l->destroy)
        l->destroy(l->data);
    g_free(l);
}

void
hvd_vm_entry_free(gpointer p)
{
    VmEntry *e = p;
    g_free(e->guid);
    g_free(e->name);
    g_free(e);
}

static guint
uuid_hash(gconstpointer p)
{
    guint h;
    memcpy(&h, p, sizeof(h));
    return h;
}

static gboolean
uuid_equal(gconstpointer a, gconstpointer b)
{
    return memcmp(a, b, 16) == 0;
}

void
hvd_domain_free(HvdDomain *dom)
{
    if (!dom)
        return;
    g_free(dom->name);
    g_free(dom);
}

gboolean
hvd_state_active(guint16 s)
{
    return s != MSVM_ENABLED_STATE_DISABLED &&
           s != MSVM_ENABLED_STATE_OFFLINE &&
           s != MSVM_ENABLED_STATE_SUSPENDED && s != MSVM_ENABLED_STATE_UNKNOWN;
}

gboolean
hvd_state_paused(guint16 s)
{
    return s == MSVM_ENABLED_STATE_QUIESCE || s == MSVM_ENABLED_STATE_PAUSED ||
           s == MSVM_ENABLED_STATE_PAUSING;
}

gboolean
hvd_state_saved(guint16 s)
{
    return s == MSVM_ENABLED_STATE_OFFLINE || s == MSVM_ENABLED_STATE_SUSPENDED;
}

int
hvd_vm_entry_id(const VmEntry *e)
{
    if (!hvd_state_active(e->enabled_state))
        return -1;
    return e->pid > 0 && e->pid <= G_MAXINT ? (int) e->pid : -1;
}

HvdDomain *
hvd_vm_entry_domain(const VmEntry *e)
{
    HvdDomain *d = g_new0(HvdDomain, 1);
    d->name = g_strdup(e->name);
    memcpy(d->uuid, e->uuid, 16);
    d->id = hvd_vm_entry_id(e);
    return d;
}

HvdHostConfig *
hvd_host_config_copy(const HvdHostConfig *config)
{
    HvdHostConfig *h = g_new0(HvdHostConfig, 1);

    *h = *config;
    h->name = g_strdup(config->name);
    h->wsman.url = g_strdup(config->wsman.url);
    h->wsman.user = g_strdup(config->wsman.user);
    h->wsman.password = g_strdup(config->wsman.password);
    h->wsman.ca_file = g_strdup(config->wsman.ca_file);
    h->wsman.krb5_ccache = g_strdup(config->wsman.krb5_ccache);
    h->wsman.krb5_keytab = g_strdup(config->wsman.krb5_keytab);
    h->state_dir = g_strdup(config->state_dir);
    return h;
}

void
hvd_host_config_free(HvdHostConfig *h)
{
    if (!h)
        return;
    g_free(h->name);
    g_free((char *) h->wsman.url);
    g_free((char *) h->wsman.user);
    if (h->wsman.password)
        memset((char *) h->wsman.password, 0, strlen(h->wsman.password));
    g_free((char *) h->wsman.password);
    g_free((char *) h->wsman.ca_file);
    g_free((char *) h->wsman.krb5_ccache);
    g_free((char *) h->wsman.krb5_keytab);
    g_free(h->state_dir);
    g_free(h);
}

HvdDriver *
hvd_driver_new(const HvdHostConfig *config)
{
    HvdDriver *d = g_new0(HvdDriver, 1);

    d->config = hvd_host_config_copy(config);
    if (!d->config->poll_interval_ms)
        d->config->poll_interval_ms = 2000;
    if (!d->config->connections)
        d->config->connections = HVD_DEFAULT_CONNECTIONS;
    d->idle = g_async_queue_new();
    g_mutex_init(&d->lock);
    g_mutex_init(&d->refresh_lock);
    g_cond_init(&d->wake);
    d->clients =
        g_ptr_array_new_with_free_func((GDestroyNotify) wsman_client_free);
    d->services = wsman_services_new();
    d->vms =
        g_hash_table_new_full(uuid_hash, uuid_equal, NULL, hvd_vm_entry_free);
    d->hints = g_hash_table_new_full(uuid_hash, uuid_equal, g_free, NULL);
    d->snapshots = g_hash_table_new_full(uuid_hash, uuid_equal, g_free,
                                         hvd_snapshot_tree_free);
    d->jobs = g_hash_table_new_full(uuid_hash, uuid_equal, g_free,
                                    hvd_domain_job_free);
    d->checkpoints = g_hash_table_new_full(uuid_hash, uuid_equal, g_free,
                                           hvd_checkpoint_tree_free);
    d->backups =
        g_hash_table_new_full(uuid_hash, uuid_equal, g_free, hvd_backup_free);
    d->listeners = g_hash_table_new_full(NULL, NULL, NULL, listener_unref);
    return d;
}

static void stop_poller(HvdDriver *d);

void
hvd_driver_free(HvdDriver *d)
{
    if (!d)
        return;
    hvd_backup_stop_all(d);
    stop_poller(d);
    /* the helper threads end before the connections they used */
    hvd_workers_free(d->helpers);
    g_async_queue_unref(d->idle);
    g_ptr_array_unref(d->clients);
    g_hash_table_unref(d->services);
    g_hash_table_unref(d->vms);
    g_hash_table_unref(d->hints);
    g_hash_table_unref(d->snapshots);
    g_hash_table_unref(d->jobs);
    g_hash_table_unref(d->checkpoints);
    g_hash_table_unref(d->backups);
    g_hash_table_unref(d->listeners);
    g_mutex_clear(&d->lock);
    g_mutex_clear(&d->refresh_lock);
    g_cond_clear(&d->wake);
    g_free(d->hostname);
    hvd_host_config_free(d->config);
    g_free(d);
}

const char *
hvd_driver_name(HvdDriver *d)
{
    return d->config->name;
}

/* A connection to the host for the calling thread; give it back. */
WsmanClient *
hvd_driver_client_get(HvdDriver *d, GError **error)
{
    WsmanClient *c = g_async_queue_try_pop(d->idle);
    g_autoptr(GError) local = NULL;
    gboolean fresh = !c;

    if (fresh && !(c = wsman_client_new(&d->config->wsman, &local))) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return NULL;
    }
    g_mutex_lock(&d->lock);
    if (fresh)
        g_ptr_array_add(d->clients, c);
    wsman_client_share_services(c, d->services);
    g_mutex_unlock(&d->lock);
    return c;
}

void
hvd_driver_client_put(HvdDriver *d, WsmanClient *c)
{
    if (!c)
        return;
    /* what one connection learnt of the host's services, the others
     * know without asking */
    g_mutex_lock(&d->lock);
    wsman_client_share_services(c, d->services);
    g_mutex_unlock(&d->lock);
    g_async_queue_push(d->idle, c);
}

/* Reads that do not depend on each other, spread over the host's
 * connections: the caller's own, and idle or new ones up to the host's
 * bound, each on one of the driver's helper threads, which stay for the
 * next reads rather than being made and ended each time */
typedef struct {
    HvJob job;
    gpointer data;
    guint n;
    gint next;
    GMutex lock;
    GCond done;
    guint running; /* helpers not done yet */
} Fanout;

typedef struct {
    Fanout *fanout;
    WsmanClient *client;
} Helper;

static void
fanout_work(Fanout *f, WsmanClient *c)
{
    for (;;) {
        guint i = (guint) g_atomic_int_add(&f->next, 1);
        if (i >= f->n)
            return;
        f->job(c, i, f->data);
    }
}

static void
help_fanout(gpointer item, gpointer data)
{
    Helper *h = item;
    Fanout *f = h->fanout;

    fanout_work(f, h->client);
    g_mutex_lock(&f->lock);
    f->running--;
    g_cond_signal(&f->done);
    g_mutex_unlock(&f->lock);
}

/* An idle connection, or a new one while the host's bound allows */
static WsmanClient *
spare_client(HvdDriver *d)
{
    gboolean room;

    g_mutex_lock(&d->lock);
    room = g_async_queue_length(d->idle) > 0 ||
           d->clients->len < d->config->connections;
    g_mutex_unlock(&d->lock);
    return room ? hvd_driver_client_get(d, NULL) : NULL;
}

/* The helper threads, made the first time: one per connection a fan-out
 * can add to the caller's; no job fans out again, so a helper is never
 * waited for by another */
static HvdWorkers *
helpers_of(HvdDriver *d)
{
    HvdWorkers *w;

    g_mutex_lock(&d->lock);
    if (!d->helpers)
        d->helpers = hvd_workers_new("hvd-read", d->config->connections - 1,
                                     help_fanout, NULL);
    w = d->helpers;
    g_mutex_unlock(&d->lock);
    return w;
}

static void
driver_run(gpointer self, WsmanClient *own, guint n, HvJob job, gpointer data)
{
    HvdDriver *d = self;
    Fanout f = { job, data, n, 0 };
    guint want = MIN(n, d->config->connections);
    g_autofree Helper *helpers = g_new0(Helper, want);
    guint started = 0;

    g_mutex_init(&f.lock);
    g_cond_init(&f.done);
    for (guint i = 1; i < want; i++) {
        WsmanClient *c = spare_client(d);
        if (!c)
            break;
        helpers[started].fanout = &f;
        helpers[started].client = c;
        g_mutex_lock(&f.lock);
        f.running++;
        g_mutex_unlock(&f.lock);
        hvd_workers_push(helpers_of(d), &helpers[started]);
        started++;
    }
    fanout_work(&f, own);
    g_mutex_lock(&f.lock);
    while (f.running)
        g_cond_wait(&f.done, &f.lock);
    g_mutex_unlock(&f.lock);
    for (guint i = 0; i < started; i++)
        hvd_driver_client_put(d, helpers[i].client);
    g_mutex_clear(&f.lock);
    g_cond_clear(&f.done);
}

HvRunner
hvd_driver_runner(HvdDriver *d)
{
    HvRunner r = { driver_run, d };
    return r;
}

guint64
hvd_driver_request_count(HvdDriver *d)
{
    guint64 n = 0;

    g_mutex_lock(&d->lock);
    for (guint i = 0; i < d->clients->len; i++)
        n += wsman_client_request_count(d->clients->pdata[i]);
    g_mutex_unlock(&d->lock);
    return n;
}

HvJobWait
hvd_driver_job_wait(HvdDriver *d)
{
    HvJobWait w = { 0 };
    w.timeout_ms = d->config->job_timeout_ms;
    w.poll_min_ms = 50;
    w.poll_max_ms = 1000;
    return w;
}

/* Events */

typedef struct {
    HvdDomain *dom;
    int event;
    int detail;
} Event;

static void
event_free(gpointer p)
{
    Event *e = p;
    hvd_domain_free(e->dom);
    g_free(e);
}

static void
queue_event(GPtrArray *events, const VmEntry *vm, int event, int detail)
{
    Event *e = g_new0(Event, 1);
    e->dom = hvd_vm_entry_domain(vm);
    e->event = event;
    e->detail = detail;
    g_ptr_array_add(events, e);
}

/* The events between two states of a VM; hint is the detail of a change
 * the driver made itself, or -1. */
static void
state_events(GPtrArray *events, const VmEntry *vm, guint16 from, guint16 to,
             int hint)
{
    gboolean was_on = hvd_state_active(from), is_on = hvd_state_active(to);

    if (from == to)
        return;
    if (!was_on && is_on) {
        queue_event(events, vm, VIR_DOMAIN_EVENT_STARTED,
                    hint >= 0               ? hint
                    : hvd_state_saved(from) ? VIR_DOMAIN_EVENT_STARTED_RESTORED
                                            : VIR_DOMAIN_EVENT_STARTED_BOOTED);
        if (hvd_state_paused(to))
            queue_event(events, vm, VIR_DOMAIN_EVENT_SUSPENDED,
                        VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
    } else if (was_on && !is_on) {
        queue_event(events, vm, VIR_DOMAIN_EVENT_STOPPED,
                    hint >= 0             ? hint
                    : hvd_state_saved(to) ? VIR_DOMAIN_EVENT_STOPPED_SAVED
                                          : VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN);
    } else if (was_on && is_on) {
        if (!hvd_state_paused(from) && hvd_state_paused(to))
            queue_event(events, vm, VIR_DOMAIN_EVENT_SUSPENDED,
                        hint >= 0 ? hint : VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
        else if (hvd_state_paused(from) && !hvd_state_paused(to))
            queue_event(events, vm, VIR_DOMAIN_EVENT_RESUMED,
                        VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
    }
}

static void
deliver(HvdDriver *d, GPtrArray *events)
{
    g_autoptr(GPtrArray) targets =
        g_ptr_array_new_with_free_func(listener_unref);
    GHashTableIter it;
    gpointer v;

    if (!events || events->len == 0)
        return;
    g_mutex_lock(&d->lock);
    g_hash_table_iter_init(&it, d->listeners);
    while (g_hash_table_iter_next(&it, NULL, &v))
        g_ptr_array_add(targets, listener_ref(v));
    g_mutex_unlock(&d->lock);
    for (guint i = 0; i < events->len; i++) {
        Event *e = events->pdata[i];
        for (guint k = 0; k < targets->len; k++) {
            Listener *l = targets->pdata[k];
            gboolean removed;
            g_mutex_lock(&d->lock);
            removed = l->removed;
            g_mutex_unlock(&d->lock);
            if (!removed)
                l->func(e->dom, e->event, e->detail, l->data);
        }
    }
}

static gint64
unix_usec(GDateTime *t)
{
    return t ? g_date_time_to_unix(t) * G_USEC_PER_SEC +
                   g_date_time_get_microsecond(t)
             : 0;
}

/* Takes one VM's fresh facts into the cache (lock held). */
static VmEntry *
update_entry(HvdDriver *d, const Msvm_ComputerSystem *cs, GPtrArray *events)
{
    guchar uuid[16];
    VmEntry *e;
    int hint = -1;
    gpointer h;

    if (!cs->Name || !hvd_uuid_parse(cs->Name, uuid))
        return NULL; /* not a VM this driver can name */
    e = g_hash_table_lookup(d->vms, uuid);
    if (g_hash_table_lookup_extended(d->hints, uuid, NULL, &h))
        hint = GPOINTER_TO_INT(h);
    if (!e) {
        e = g_new0(VmEntry, 1);
        memcpy(e->uuid, uuid, 16);
        e->guid = g_strdup(cs->Name);
        e->name = g_strdup(cs->ElementName ? cs->ElementName : cs->Name);
        e->enabled_state = cs->EnabledState;
        e->pid = cs->ProcessID;
        e->reason = -1;
        e->state_since = unix_usec(cs->TimeOfLastStateChange);
        g_hash_table_insert(d->vms, e->uuid, e);
        if (d->listed_at && events)
            queue_event(events, e, VIR_DOMAIN_EVENT_DEFINED,
                        VIR_DOMAIN_EVENT_DEFINED_ADDED);
    } else {
        guint16 from = e->enabled_state;
        if (g_strcmp0(e->name, cs->ElementName) != 0 && cs->ElementName) {
            g_free(e->name);
            e->name = g_strdup(cs->ElementName);
        }
        e->enabled_state = cs->EnabledState;
        e->pid = cs->ProcessID;
        e->state_since = unix_usec(cs->TimeOfLastStateChange);
        if (events)
            state_events(events, e, from, e->enabled_state, hint);
        if (from != e->enabled_state) {
            g_hash_table_remove(d->hints, uuid);
            e->reason = -1;
        }
    }
    e->seen = TRUE;
    return e;
}

/* Reads every VM of the host into the cache; events for what changed. */
static gboolean
refresh(HvdDriver *d, WsmanClient *c, GError **error)
{
    g_autoptr(GPtrArray) vms = NULL;
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(event_free);
    g_autoptr(GError) local = NULL;
    GHashTableIter it;
    gpointer v;

    g_mutex_lock(&d->refresh_lock);
    vms = hv_vm_list(c, &local);
    if (!vms) {
        g_mutex_unlock(&d->refresh_lock);
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    g_mutex_lock(&d->lock);
    g_hash_table_iter_init(&it, d->vms);
    while (g_hash_table_iter_next(&it, NULL, &v))
        ((VmEntry *) v)->seen = FALSE;
    for (guint i = 0; i < vms->len; i++)
        update_entry(d, vms->pdata[i], events);
    g_hash_table_iter_init(&it, d->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        VmEntry *e = v;
        if (!e->seen) {
            queue_event(events, e, VIR_DOMAIN_EVENT_UNDEFINED,
                        VIR_DOMAIN_EVENT_UNDEFINED_REMOVED);
            g_hash_table_iter_remove(&it);
        }
    }
    d->listed_at = g_get_monotonic_time();
    g_mutex_unlock(&d->lock);
    deliver(d, events);
    g_mutex_unlock(&d->refresh_lock);
    return TRUE;
}

/* Re-reads one VM after the driver changed it. */
gboolean
hvd_driver_refresh_vm(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                      guint16 *enabled_state, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(Msvm_ComputerSystem) cs = NULL;
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(event_free);

    g_mutex_lock(&d->refresh_lock);
    cs = hv_vm_lookup(c, vm->guid, &local);
    if (!cs) {
        g_mutex_unlock(&d->refresh_lock);
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (enabled_state)
        *enabled_state = cs->EnabledState;
    g_mutex_lock(&d->lock);
    update_entry(d, cs, events);
    g_mutex_unlock(&d->lock);
    deliver(d, events);
    g_mutex_unlock(&d->refresh_lock);
    return TRUE;
}

gpointer
hvd_driver_per_vm(GHashTable *table, const guchar uuid[16],
                  gpointer (*make)(void))
{
    gpointer v = g_hash_table_lookup(table, uuid);
    if (!v) {
        v = make();
        g_hash_table_insert(table, g_memdup2(uuid, 16), v);
    }
    return v;
}

gboolean
hvd_driver_is_recent(HvdDriver *d, gint64 read_at)
{
    return read_at && g_get_monotonic_time() - read_at <
                          (gint64) d->config->poll_interval_ms * 1000;
}

/* Makes sure the cache is no older than the poll interval. */
static gboolean
ensure_fresh(HvdDriver *d, GError **error)
{
    WsmanClient *c;
    gboolean fresh, ok;

    g_mutex_lock(&d->lock);
    fresh = hvd_driver_is_recent(d, d->listed_at);
    g_mutex_unlock(&d->lock);
    if (fresh)
        return TRUE;
    c = hvd_driver_client_get(d, error);
    if (!c)
        return FALSE;
    ok = refresh(d, c, error);
    hvd_driver_client_put(d, c);
    return ok;
}

struct Poller {
    HvdDriver *driver;
    GThread *thread;
    gboolean stop; /* under the driver's lock */
};

static gpointer
poll_thread(gpointer data)
{
    struct Poller *p = data;
    HvdDriver *d = p->driver;

    g_mutex_lock(&d->lock);
    while (!p->stop) {
        gint64 until = g_get_monotonic_time() +
                       (gint64) d->config->poll_interval_ms * 1000;
        while (!p->stop && g_cond_wait_until(&d->wake, &d->lock, until))
            ;
        if (p->stop)
            break;
        g_mutex_unlock(&d->lock);
        {
            g_autoptr(GError) err = NULL;
            WsmanClient *c = hvd_driver_client_get(d, &err);
            if (c && !refresh(d, c, &err))
                g_warning("%s: %s", d->config->name, err->message);
            else if (!c)
                g_warning("%s: %s", d->config->name, err->message);
            hvd_driver_client_put(d, c);
        }
        g_mutex_lock(&d->lock);
    }
    g_mutex_unlock(&d->lock);
    return NULL;
}

/* Takes the poller away (lock held); join it with join_poller(). */
static struct Poller *
take_poller(HvdDriver *d)
{
    struct Poller *p = g_steal_pointer(&d->poller);

    if (p)
        p->stop = TRUE;
    g_cond_broadcast(&d->wake);
    return p;
}

static void
join_poller(struct Poller *p)
{
    if (p) {
        g_thread_join(p->thread);
        g_free(p);
    }
}

static void
stop_poller(HvdDriver *d)
{
    struct Poller *p;

    g_mutex_lock(&d->lock);
    p = take_poller(d);
    g_mutex_unlock(&d->lock);
    join_poller(p);
}

guint
hvd_driver_add_listener(HvdDriver *d, HvdEventFunc func, gpointer data,
                        GDestroyNotify destroy)
{
    Listener *l = g_new0(Listener, 1);
    guint id;

    l->refs = 1;
    l->func = func;
    l->data = data;
    l->destroy = destroy;
    g_mutex_lock(&d->lock);
    id = ++d->next_listener;
    g_hash_table_insert(d->listeners, GUINT_TO_POINTER(id), l);
    if (!d->poller) {
        d->poller = g_new0(struct Poller, 1);
        d->poller->driver = d;
        d->poller->thread = g_thread_new("hvd-poll", poll_thread, d->poller);
    }
    g_mutex_unlock(&d->lock);
    return id;
}

void
hvd_driver_remove_listener(HvdDriver *d, guint id)
{
    struct Poller *p = NULL;
    Listener *l;

    g_mutex_lock(&d->lock);
    l = g_hash_table_lookup(d->listeners, GUINT_TO_POINTER(id));
    if (l)
        l->removed = TRUE;
    g_hash_table_remove(d->listeners, GUINT_TO_POINTER(id));
    if (g_hash_table_size(d->listeners) == 0)
        p = take_poller(d);
    g_mutex_unlock(&d->lock);
    join_poller(p);
}

/* Connection */

gboolean
hvd_driver_connect(HvdDriver *d, GError **error)
{
    gboolean first;

    if (!ensure_fresh(d, error))
        return FALSE;
    g_mutex_lock(&d->lock);
    first = !d->recovered;
    d->recovered = TRUE;
    g_mutex_unlock(&d->lock);
    /* what a daemon that stopped mid-operation left on the host */
    if (first)
        hvd_snapshot_recover(d);
    return TRUE;
}

/* "10.0.20348" as libvirt counts versions, major * 1000000 + minor * 1000
 * + micro; a build number over 999 is cut to 999 */
static guint64
os_version(const char *text)
{
    guint64 part[3] = { 0 };
    g_auto(GStrv) parts = g_strsplit(text ? text : "", ".", 4);

    for (guint i = 0; i < 3 && parts[i]; i++)
        if (!wmi_parse_unsigned(parts[i], G_MAXUINT32, &part[i]))
            return 0;
    return part[0] * 1000000 + MIN(part[1], 999) * 1000 + MIN(part[2], 999);
}

/* Reads the host's facts into the driver */
static gboolean
read_node(HvdDriver *d, GError **error)
{
    WsmanClient *c;
    g_autoptr(GPtrArray) cs = NULL, cpus = NULL, os = NULL;
    g_autoptr(GError) local = NULL;
    virNodeInfo info = { 0 };
    const char *name = NULL;
    guint64 v, version;

    c = hvd_driver_client_get(d, error);
    if (!c)
        return FALSE;
    cs =
        wsman_enumerate(c, "SELECT * FROM Win32_ComputerSystem", FALSE, &local);
    if (cs)
        cpus =
            wsman_enumerate(c, "SELECT * FROM Win32_Processor", FALSE, &local);
    if (cpus)
        os = wsman_enumerate(c, "SELECT * FROM Win32_OperatingSystem", FALSE,
                             &local);
    hvd_driver_client_put(d, c);
    if (!os) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (cs->len != 1 || cpus->len == 0) {
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INTERNAL_ERROR,
                      _("%s: the host describes %u computer systems and %u "
                        "processors"),
                      d->config->name, cs->len, cpus->len);
        return FALSE;
    }
    name = wmi_object_text(cs->pdata[0], "DNSHostName");
    if (!name)
        name = wmi_object_text(cs->pdata[0], "Name");
    if (wmi_parse_unsigned(wmi_object_text(cs->pdata[0], "TotalPhysicalMemory"),
                           G_MAXUINT64, &v))
        info.memory = v / 1024;
    g_strlcpy(info.model, "x86_64", sizeof(info.model));
    if (wmi_parse_unsigned(wmi_object_text(cpus->pdata[0], "MaxClockSpeed"),
                           G_MAXINT, &v))
        info.mhz = v;
    info.nodes = 1;
    info.sockets = cpus->len;
    for (guint i = 0; i < cpus->len; i++) {
        if (wmi_parse_unsigned(
                wmi_object_text(cpus->pdata[i], "NumberOfLogicalProcessors"),
                G_MAXINT, &v))
            info.cpus += v;
        if (i == 0 &&
            wmi_parse_unsigned(wmi_object_text(cpus->pdata[i], "NumberOfCores"),
                               G_MAXINT, &v))
            info.cores = v;
    }
    info.threads =
        info.cores ? MAX(1, info.cpus / (info.cores * info.sockets)) : 1;
    version =
        os->len ? os_version(wmi_object_text(os->pdata[0], "Version")) : 0;

    g_mutex_lock(&d->lock);
    d->node = info;
    d->version = version;
    d->have_node = TRUE;
    g_free(d->hostname);
    d->hostname = g_strdup(name ? name : d->config->name);
    g_mutex_unlock(&d->lock);
    return TRUE;
}

/* The host's facts, read once: any of name, version and info may be NULL */
static gboolean
node_facts(HvdDriver *d, char **name, guint64 *version, virNodeInfo *info,
           GError **error)
{
    gboolean have;

    g_mutex_lock(&d->lock);
    have = d->have_node;
    g_mutex_unlock(&d->lock);
    if (!have && !read_node(d, error))
        return FALSE;
    g_mutex_lock(&d->lock);
    if (name)
        *name = g_strdup(d->hostname);
    if (version)
        *version = d->version;
    if (info)
        *info = d->node;
    g_mutex_unlock(&d->lock);
    return TRUE;
}

char *
hvd_connect_get_hostname(HvdDriver *d, GError **error)
{
    char *name = NULL;

    return node_facts(d, &name, NULL, NULL, error) ? name : NULL;
}

gboolean
hvd_connect_get_version(HvdDriver *d, guint64 *version, GError **error)
{
    return node_facts(d, NULL, version, NULL, error);
}

gboolean
hvd_node_get_info(HvdDriver *d, virNodeInfo *info, GError **error)
{
    return node_facts(d, NULL, NULL, info, error);
}

char *
hvd_connect_get_capabilities(HvdDriver *d, GError **error)
{
    g_autofree char *host = hvd_connect_get_hostname(d, error);
    guchar bytes[16];

    if (!host)
        return NULL;
    /* a name-based UUID (version 5) of the host's name */
    {
        GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA1);
        guint8 digest[20];
        gsize len = sizeof(digest);
        g_checksum_update(ck, (const guchar *) "hyperv:", 7);
        g_checksum_update(ck, (const guchar *) host, strlen(host));
        g_checksum_get_digest(ck, digest, &len);
        g_checksum_free(ck);
        memcpy(bytes, digest, 16);
        bytes[6] = (bytes[6] & 0x0f) | 0x50;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
    }
    return hvd_capabilities_format(bytes);
}

/* Domains */

static gboolean
list_filter(const VmEntry *e, guint flags)
{
    gboolean on = hvd_state_active(e->enabled_state);
    guint states =
        VIR_CONNECT_LIST_DOMAINS_RUNNING | VIR_CONNECT_LIST_DOMAINS_PAUSED |
        VIR_CONNECT_LIST_DOMAINS_SHUTOFF | VIR_CONNECT_LIST_DOMAINS_OTHER;

    if ((flags & (VIR_CONNECT_LIST_DOMAINS_ACTIVE |
                  VIR_CONNECT_LIST_DOMAINS_INACTIVE)) &&
        !((flags & VIR_CONNECT_LIST_DOMAINS_ACTIVE && on) ||
          (flags & VIR_CONNECT_LIST_DOMAINS_INACTIVE && !on)))
        return FALSE;
    /* every Hyper-V VM is persistent */
    if ((flags & VIR_CONNECT_LIST_DOMAINS_TRANSIENT) &&
        !(flags & VIR_CONNECT_LIST_DOMAINS_PERSISTENT))
        return FALSE;
    if (flags & states) {
        gboolean paused = hvd_state_paused(e->enabled_state);
        gboolean match =
            (flags & VIR_CONNECT_LIST_DOMAINS_RUNNING && on && !paused) ||
            (flags & VIR_CONNECT_LIST_DOMAINS_PAUSED && paused) ||
            (flags & VIR_CONNECT_LIST_DOMAINS_SHUTOFF && !on);
        if (!match)
            return FALSE;
    }
    if ((flags & (VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE |
                  VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE)) &&
        !((flags & VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE &&
           hvd_state_saved(e->enabled_state)) ||
          (flags & VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE &&
           !hvd_state_saved(e->enabled_state))))
        return FALSE;
    return TRUE;
}

/* One query over every VM's settings objects of a type
 * (Microsoft:Hyper-V:<type>): the UUIDs of the VMs that have one, each
 * mapped to its AutomaticStartupAction when startup is asked for. */
static GHashTable *
settings_of_vms(HvdDriver *d, const char *type, gboolean startup,
                GError **error)
{
    g_autofree char *wql =
        g_strdup_printf("SELECT * FROM Msvm_VirtualSystemSettingData WHERE "
                        "VirtualSystemType = 'Microsoft:Hyper-V:%s'",
                        type);
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) r = NULL;
    GHashTable *out;
    WsmanClient *c = hvd_driver_client_get(d, error);

    if (!c)
        return NULL;
    r = wsman_enumerate(c, wql, FALSE, &local);
    hvd_driver_client_put(d, c);
    if (!r) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return NULL;
    }
    out = g_hash_table_new_full(uuid_hash, uuid_equal, g_free, NULL);
    for (guint i = 0; i < r->len; i++) {
        guchar uuid[16];
        guint64 action = 0;
        if (!hvd_uuid_parse(
                wmi_object_text(r->pdata[i], "VirtualSystemIdentifier"), uuid))
            continue;
        if (startup)
            wmi_parse_unsigned(
                wmi_object_text(r->pdata[i], "AutomaticStartupAction"),
                G_MAXUINT16, &action);
        g_hash_table_replace(out, g_memdup2(uuid, 16),
                             GUINT_TO_POINTER((guint) action));
    }
    return out;
}

GPtrArray *
hvd_connect_list_all_domains(HvdDriver *d, guint flags, GError **error)
{
    const guint allowed =
        VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE |
        VIR_CONNECT_LIST_DOMAINS_PERSISTENT |
        VIR_CONNECT_LIST_DOMAINS_TRANSIENT | VIR_CONNECT_LIST_DOMAINS_RUNNING |
        VIR_CONNECT_LIST_DOMAINS_PAUSED | VIR_CONNECT_LIST_DOMAINS_SHUTOFF |
        VIR_CONNECT_LIST_DOMAINS_OTHER | VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE |
        VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE |
        VIR_CONNECT_LIST_DOMAINS_AUTOSTART |
        VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART |
        VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT |
        VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT;
    const guint autostart_flags = VIR_CONNECT_LIST_DOMAINS_AUTOSTART |
                                  VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART;
    const guint snapshot_flags = VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT |
                                 VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT;
    g_autoptr(GHashTable) autostart = NULL, snapshots = NULL;
    GPtrArray *out;
    GHashTableIter it;
    gpointer v;

    if (!hvd_check_flags(flags, allowed, "hvdConnectListAllDomains", error) ||
        !ensure_fresh(d, error))
        return NULL;
    if ((flags & autostart_flags) &&
        !(autostart = settings_of_vms(d, "System:Realized", TRUE, error)))
        return NULL;
    if ((flags & snapshot_flags) &&
        !(snapshots = settings_of_vms(d, "Snapshot:Realized", FALSE, error)))
        return NULL;
    out = g_ptr_array_new_with_free_func((GDestroyNotify) hvd_domain_free);
    g_mutex_lock(&d->lock);
    g_hash_table_iter_init(&it, d->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        VmEntry *e = v;
        if (!list_filter(e, flags))
            continue;
        if (autostart) {
            gboolean on =
                GPOINTER_TO_UINT(g_hash_table_lookup(autostart, e->uuid)) ==
                MSVM_AUTOMATIC_STARTUP_ACTION_ALWAYS;
            if (!(flags & (on ? VIR_CONNECT_LIST_DOMAINS_AUTOSTART
                              : VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART)))
                continue;
        }
        if (snapshots) {
            gboolean has = g_hash_table_contains(snapshots, e->uuid);
            if (!(flags & (has ? VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT
                               : VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT)))
                continue;
        }
        g_ptr_array_add(out, hvd_vm_entry_domain(e));
    }
    g_mutex_unlock(&d->lock);
    return out;
}

typedef gboolean (*EntryMatch)(const VmEntry *e, gconstpointer key);

static gboolean
match_name(const VmEntry *e, gconstpointer key)
{
    return g_strcmp0(e->name, key) == 0;
}

static gboolean
match_uuid(const VmEntry *e, gconstpointer key)
{
    return memcmp(e->uuid, key, 16) == 0;
}

static gboolean
match_id(const VmEntry *e, gconstpointer key)
{
    return hvd_vm_entry_id(e) == *(const int *) key;
}

/* Finds a VM in the cache, refreshing it once when it is not there; a
 * name two VMs share is ambiguous. Returns a copy of the entry. */
static VmEntry *
find(HvdDriver *d, EntryMatch match, gconstpointer key, const char *what,
     GError **error)
{
    for (int round = 0; round < 2; round++) {
        GHashTableIter it;
        gpointer v;
        VmEntry *found = NULL;
        guint n = 0;

        if (round == 0 ? !ensure_fresh(d, error) : FALSE)
            return NULL;
        if (round == 1) {
            WsmanClient *c = hvd_driver_client_get(d, error);
            gboolean ok = c && refresh(d, c, error);
            hvd_driver_client_put(d, c);
            if (!ok)
                return NULL;
        }
        g_mutex_lock(&d->lock);
        g_hash_table_iter_init(&it, d->vms);
        while (g_hash_table_iter_next(&it, NULL, &v))
            if (match(v, key)) {
                found = v;
                n++;
            }
        if (n == 1) {
            VmEntry *copy = hvd_vm_entry_copy(found);
            g_mutex_unlock(&d->lock);
            return copy;
        }
        g_mutex_unlock(&d->lock);
        if (n > 1) {
            hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_MULTIPLE_DOMAINS,
                          _("%u virtual machines match %s; use the UUID"), n,
                          what);
            return NULL;
        }
    }
    hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_NO_DOMAIN,
                  _("no domain with matching %s"), what);
    return NULL;
}

static HvdDomain *
lookup(HvdDriver *d, EntryMatch match, gconstpointer key, const char *what,
       GError **error)
{
    g_autoptr(VmEntry) e = find(d, match, key, what, error);
    return e ? hvd_vm_entry_domain(e) : NULL;
}

HvdDomain *
hvd_domain_lookup_by_name(HvdDriver *d, const char *name, GError **error)
{
    g_autofree char *what = g_strdup_printf(_("name '%s'"), name);
    return lookup(d, match_name, name, what, error);
}

static char *
uuid_what(const guchar uuid[16])
{
    char s[37];
    hvd_uuid_format(uuid, s);
    return g_strdup_printf(_("uuid '%s'"), s);
}

HvdDomain *
hvd_domain_lookup_by_uuid(HvdDriver *d, const guchar uuid[16], GError **error)
{
    g_autofree char *what = uuid_what(uuid);
    return lookup(d, match_uuid, uuid, what, error);
}

HvdDomain *
hvd_domain_lookup_by_id(HvdDriver *d, int id, GError **error)
{
    g_autofree char *what = g_strdup_printf(_("id %d"), id);
    if (id < 0) {
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_NO_DOMAIN,
                      _("no domain with matching %s"), what);
        return NULL;
    }
    return lookup(d, match_id, &id, what, error);
}

VmEntry *
hvd_driver_find_vm(HvdDriver *d, const guchar uuid[16], GError **error)
{
    g_autofree char *what = uuid_what(uuid);
    return find(d, match_uuid, uuid, what, error);
}

/* Memory (MiB) and processors of a settings object's resources; 0 for
 * what they do not say */
static void
resources_size(GPtrArray *rasds, guint64 *memory_mb, guint64 *vcpus)
{
    *memory_mb = *vcpus = 0;
    for (guint i = 0; i < rasds->len; i++) {
        WmiObject *o = rasds->pdata[i];
        const char *q = wmi_object_text(o, "VirtualQuantity");
        if (g_str_equal(o->class_name, "Msvm_MemorySettingData"))
            wmi_parse_unsigned(q, G_MAXUINT64 / 1024, memory_mb);
        else if (g_str_equal(o->class_name, "Msvm_ProcessorSettingData"))
            wmi_parse_unsigned(q, G_MAXUINT16, vcpus);
    }
}

/* Reads the VM's own settings and their resources (returned when asked
 * for); what they say of memory, processors and automatic start goes into
 * copy and the cache. */
static gboolean
read_settings(HvdDriver *d, WsmanClient *c, VmEntry *copy,
              Msvm_VirtualSystemSettingData **vssd_out, GPtrArray **rasds_out,
              GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(Msvm_VirtualSystemSettingData) vssd = NULL;
    g_autoptr(GPtrArray) rasds = NULL;
    VmEntry *e;
    guint64 mem, cpus;

    vssd = hv_vm_settings(c, copy->guid, &local);
    if (vssd)
        rasds = hv_settings_resources(c, vssd->InstanceID, &local);
    if (!rasds) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    resources_size(rasds, &mem, &cpus);
    copy->memory_mb = mem;
    copy->vcpus = cpus;
    copy->startup_action = vssd->AutomaticStartupAction;
    copy->have_settings = TRUE;
    g_mutex_lock(&d->lock);
    e = g_hash_table_lookup(d->vms, copy->uuid);
    if (e) {
        e->memory_mb = mem;
        e->vcpus = cpus;
        e->startup_action = copy->startup_action;
        e->have_settings = TRUE;
    }
    g_mutex_unlock(&d->lock);
    if (vssd_out)
        *vssd_out = g_steal_pointer(&vssd);
    if (rasds_out)
        *rasds_out = g_steal_pointer(&rasds);
    return TRUE;
}

/* Memory and processors of the VM's own settings, read once per VM */
static gboolean
ensure_settings(HvdDriver *d, WsmanClient *c, VmEntry *copy, GError **error)
{
    VmEntry *e;

    g_mutex_lock(&d->lock);
    e = g_hash_table_lookup(d->vms, copy->uuid);
    if (e && e->have_settings) {
        copy->memory_mb = e->memory_mb;
        copy->vcpus = e->vcpus;
        copy->startup_action = e->startup_action;
        copy->have_settings = TRUE;
        g_mutex_unlock(&d->lock);
        return TRUE;
    }
    g_mutex_unlock(&d->lock);
    return read_settings(d, c, copy, NULL, NULL, error);
}

static VmEntry *
find_with_settings(HvdDriver *d, const guchar uuid[16], GError **error)
{
    g_autoptr(VmEntry) e = hvd_driver_find_vm(d, uuid, error);
    WsmanClient *c;
    gboolean ok;

    if (!e)
        return NULL;
    c = hvd_driver_client_get(d, error);
    if (!c)
        return NULL;
    ok = ensure_settings(d, c, e, error);
    hvd_driver_client_put(d, c);
    return ok ? g_steal_pointer(&e) : NULL;
}

static void
libvirt_state(guint16 s, int *state, int *reason)
{
    switch (s) {
    case MSVM_ENABLED_STATE_ENABLED:
    case MSVM_ENABLED_STATE_STARTING:
    case MSVM_ENABLED_STATE_STARTING_V1:
    case MSVM_ENABLED_STATE_SAVING:
    case MSVM_ENABLED_STATE_RESUMING:
        *state = VIR_DOMAIN_RUNNING;
        *reason = VIR_DOMAIN_RUNNING_BOOTED;
        break;
    case MSVM_ENABLED_STATE_QUIESCE:
    case MSVM_ENABLED_STATE_PAUSED:
    case MSVM_ENABLED_STATE_PAUSING:
        *state = VIR_DOMAIN_PAUSED;
        *reason = VIR_DOMAIN_PAUSED_USER;
        break;
    case MSVM_ENABLED_STATE_SHUTTING_DOWN:
    case MSVM_ENABLED_STATE_STOPPING:
        *state = VIR_DOMAIN_SHUTDOWN;
        *reason = VIR_DOMAIN_SHUTDOWN_USER;
        break;
    case MSVM_ENABLED_STATE_DISABLED:
        *state = VIR_DOMAIN_SHUTOFF;
        *reason = VIR_DOMAIN_SHUTOFF_SHUTDOWN;
        break;
    case MSVM_ENABLED_STATE_OFFLINE:
    case MSVM_ENABLED_STATE_SUSPENDED:
        *state = VIR_DOMAIN_SHUTOFF;
        *reason = VIR_DOMAIN_SHUTOFF_SAVED;
        break;
    default:
        *state = VIR_DOMAIN_NOSTATE;
        *reason = 0;
        break;
    }
}

void
hvd_driver_set_reason(HvdDriver *d, const guchar uuid[16], int reason)
{
    VmEntry *e;

    g_mutex_lock(&d->lock);
    e = g_hash_table_lookup(d->vms, uuid);
    if (e)
        e->reason = reason;
    g_mutex_unlock(&d->lock);
}

static void
entry_state(const VmEntry *e, int *state, int *reason)
{
    libvirt_state(e->enabled_state, state, reason);
    if (e->reason >= 0)
        *reason = e->reason;
}

gboolean
hvd_domain_get_info(HvdDriver *d, const guchar uuid[16], virDomainInfo *info,
                    GError **error)
{
    g_autoptr(VmEntry) e = find_with_settings(d, uuid, error);
    int state, reason;

    if (!e)
        return FALSE;
    libvirt_state(e->enabled_state, &state, &reason);
    memset(info, 0, sizeof(*info));
    info->state = state;
    info->maxMem = e->memory_mb * 1024;
    info->memory = hvd_state_active(e->enabled_state) ? e->memory_mb * 1024 : 0;
    info->nrVirtCpu = e->vcpus;
    info->cpuTime = 0; /* Hyper-V reports no processor time per VM here */
    return TRUE;
}

gboolean
hvd_domain_get_state(HvdDriver *d, const guchar uuid[16], guint flags,
                     int *state, int *reason, GError **error)
{
    g_autoptr(VmEntry) e = NULL;

    if (!hvd_check_flags(flags, 0, "hvdDomainGetState", error) ||
        !(e = hvd_driver_find_vm(d, uuid, error)))
        return FALSE;
    entry_state(e, state, reason);
    return TRUE;
}

gboolean
hvd_domain_is_active(HvdDriver *d, const guchar uuid[16], gboolean *active,
                     GError **error)
{
    g_autoptr(VmEntry) e = hvd_driver_find_vm(d, uuid, error);

    if (!e)
        return FALSE;
    *active = hvd_state_active(e->enabled_state);
    return TRUE;
}

gboolean
hvd_domain_get_autostart(HvdDriver *d, const guchar uuid[16],
                         gboolean *autostart, GError **error)
{
    g_autoptr(VmEntry) e = find_with_settings(d, uuid, error);

    if (!e)
        return FALSE;
    /* "Always start"; "restart if previously running" depends on the
     * past, which libvirt's autostart does not */
    *autostart = e->startup_action == MSVM_AUTOMATIC_STARTUP_ACTION_ALWAYS;
    return TRUE;
}

gboolean
hvd_domain_has_managed_save(HvdDriver *d, const guchar uuid[16], guint flags,
                            gboolean *has, GError **error)
{
    g_autoptr(VmEntry) e = NULL;

    if (!hvd_check_flags(flags, 0, "hvdDomainHasManagedSaveImage", error) ||
        !(e = hvd_driver_find_vm(d, uuid, error)))
        return FALSE;
    *has = hvd_state_saved(e->enabled_state);
    return TRUE;
}

/* The active file of each virtual hard disk of a settings object, in the
 * order the domain XML lists them */
static GPtrArray *
disk_paths(GPtrArray *rasds)
{
    GPtrArray *paths = g_ptr_array_new();

    for (guint i = 0; i < rasds->len; i++) {
        WmiObject *o = rasds->pdata[i];
        const char *path = wmi_object_text(o, "HostResource");
        if (g_str_equal(o->class_name, "Msvm_StorageAllocationSettingData") &&
            path)
            g_ptr_array_add(paths, (gpointer) path);
    }
    return paths;
}

static gboolean
same_paths(GPtrArray *a, GPtrArray *b)
{
    if (a->len != b->len)
        return FALSE;
    for (guint i = 0; i < a->len; i++)
        if (g_ascii_strcasecmp(a->pdata[i], b->pdata[i]) != 0)
            return FALSE;
    return TRUE;
}

static char *
disk_target(guint n)
{
    return g_strdup_printf("sd%c", 'a' + (n < 26 ? n : 25));
}

gboolean
hvd_driver_disks_from(HvdDriver *d, GPtrArray *rasds, GHashTable *files,
                      HvdDomainDef *def, GError **error)
{
    g_autoptr(GPtrArray) paths = disk_paths(rasds);

    for (guint i = 0; i < paths->len; i++) {
        g_autoptr(GError) local = NULL;
        g_autoptr(GPtrArray) chain = hv_disk_chain_from(
            hvd_driver_name(d), files, paths->pdata[i], &local);
        g_autofree char *target = NULL;
        HvdDiskDef *disk;

        if (!chain) {
            hvd_driver_map_error(error, g_steal_pointer(&local));
            return FALSE;
        }
        target = disk_target(i);
        disk = hvd_domain_def_add_disk(def, target, "scsi");
        for (guint k = 0; k < chain->len; k++) {
            Msvm_VirtualHardDiskSettingData *l = chain->pdata[k];
            hvd_disk_def_add_layer(disk, l->Path,
                                   l->Format == MSVM_VHD_FORMAT_VHD ? "vhd"
                                                                    : "vhdx");
        }
    }
    return TRUE;
}

gboolean
hvd_driver_read_files(HvdDriver *d, WsmanClient *c, GHashTable *files,
                      GPtrArray *rasds, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(WmiEpr) img = NULL;
    g_autoptr(GPtrArray) paths = disk_paths(rasds);
    HvRunner runner = hvd_driver_runner(d);

    if (!paths->len)
        return TRUE;
    img = hv_service_epr(c, HV_IMAGE_SERVICE, &local);
    if (!img) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    hv_disk_files_read(c, img, files, paths, &runner);
    return TRUE;
}

/* The disks of a settings object, with their chains */
gboolean
hvd_driver_add_disks(HvdDriver *d, WsmanClient *c, GPtrArray *rasds,
                     HvdDomainDef *def, GError **error)
{
    g_autoptr(GHashTable) files = hv_disk_files_new();

    return hvd_driver_read_files(d, c, files, rasds, error) &&
           hvd_driver_disks_from(d, rasds, files, def, error);
}

VmEntry *
hvd_vm_entry_copy(const VmEntry *e)
{
    VmEntry *copy = g_memdup2(e, sizeof(*e));
    copy->guid = g_strdup(e->guid);
    copy->name = g_strdup(e->name);
    return copy;
}

char *
hvd_state_path(HvdDriver *d, const char *kind, const char *name)
{
    g_autofree char *host = g_ascii_strdown(hvd_driver_name(d), -1);

    if (!d->config->state_dir)
        return NULL;
    return g_build_filename(d->config->state_dir, kind, host, name, NULL);
}

gboolean
hvd_state_write(const char *path, const char *data, gssize len, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s",
                    dir, g_strerror(e));
        return FALSE;
    }
    return g_file_set_contents_full(path, data, len,
                                    G_FILE_SET_CONTENTS_CONSISTENT |
                                        G_FILE_SET_CONTENTS_DURABLE,
                                    0600, error);
}

GPtrArray *
hvd_driver_disk_slots(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                      GError **error)
{
    g_autoptr(VmEntry) copy = hvd_vm_entry_copy(vm);
    g_autoptr(GPtrArray) rasds = NULL;
    GPtrArray *slots = g_ptr_array_new_with_free_func(hvd_disk_slot_free);
    guint n = 0;

    if (!read_settings(d, c, copy, NULL, &rasds, error)) {
        g_ptr_array_unref(slots);
        return NULL;
    }
    for (guint i = 0; i < rasds->len; i++) {
        WmiObject *o = rasds->pdata[i];
        const char *path = wmi_object_text(o, "HostResource");
        HvdDiskSlot *s;

        if (!g_str_equal(o->class_name, "Msvm_StorageAllocationSettingData") ||
            !path)
            continue;
        s = g_new0(HvdDiskSlot, 1);
        s->target = disk_target(n++);
        s->resource_id = g_strdup(wmi_object_text(o, "InstanceID"));
        s->path = g_strdup(path);
        g_ptr_array_add(slots, s);
    }
    return slots;
}

HvdDiskSlot *
hvd_disk_slot_find(GPtrArray *slots, const char *name, gboolean by_path)
{
    for (guint i = 0; i < slots->len; i++) {
        HvdDiskSlot *s = slots->pdata[i];
        if (g_str_equal(s->target, name) ||
            (by_path && g_ascii_strcasecmp(s->path, name) == 0))
            return s;
    }
    return NULL;
}

void
hvd_disk_slot_free(gpointer p)
{
    HvdDiskSlot *s = p;
    g_free(s->target);
    g_free(s->resource_id);
    g_free(s->path);
    g_free(s);
}

char *
hvd_format_mac(const char *hyperv)
{
    /* Hyper-V writes 00155D012345 */
    GString *s = g_string_new(NULL);
    if (!hyperv || strlen(hyperv) != 12)
        return g_string_free(s, TRUE), g_strdup(hyperv);
    for (int i = 0; i < 12; i += 2)
        g_string_append_printf(s, "%s%c%c", i ? ":" : "",
                               g_ascii_tolower(hyperv[i]),
                               g_ascii_tolower(hyperv[i + 1]));
    return g_string_free(s, FALSE);
}

/* Memory, processors, NICs and disks (with their chains) of a settings
 * object's resources */
gboolean
hvd_driver_fill_domain(HvdDriver *d, WsmanClient *c, GPtrArray *rasds,
                       GHashTable *files, HvdDomainDef *def, GError **error)
{
    guint64 mem, cpus;

    resources_size(rasds, &mem, &cpus);
    def->memory_kib = mem * 1024;
    def->vcpus = cpus;
    for (guint i = 0; i < rasds->len; i++) {
        WmiObject *o = rasds->pdata[i];
        if (g_str_equal(o->class_name,
                        "Msvm_SyntheticEthernetPortSettingData")) {
            g_autofree char *mac =
                hvd_format_mac(wmi_object_text(o, "Address"));
            if (mac)
                hvd_domain_def_add_nic(def, mac, NULL);
        }
    }
    return files ? hvd_driver_disks_from(d, rasds, files, def, error)
                 : hvd_driver_add_disks(d, c, rasds, def, error);
}

char *
hvd_domain_get_xml_desc(HvdDriver *d, const guchar uuid[16], guint flags,
                        GError **error)
{
    g_autoptr(VmEntry) e = NULL;
    g_autoptr(HvdDomainDef) def = NULL;
    g_autoptr(Msvm_VirtualSystemSettingData) vssd = NULL;
    g_autoptr(GPtrArray) rasds = NULL;
    WsmanClient *c;
    gboolean ok;

    if (!hvd_check_flags(flags,
                         VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_INACTIVE |
                             VIR_DOMAIN_XML_UPDATE_CPU |
                             VIR_DOMAIN_XML_MIGRATABLE,
                         "hvdDomainGetXMLDesc", error) ||
        !(e = hvd_driver_find_vm(d, uuid, error)))
        return NULL;
    c = hvd_driver_client_get(d, error);
    if (!c)
        return NULL;
    /* a revert or a merge on the host replaces the VM's files between the
     * read of its settings and the read of a chain: when the settings,
     * read again, name other files by then, those are read */
    if (!read_settings(d, c, e, &vssd, &rasds, error)) {
        hvd_driver_client_put(d, c);
        return NULL;
    }
    for (guint attempt = 0;; attempt++) {
        g_autoptr(GError) local = NULL;
        g_autoptr(Msvm_VirtualSystemSettingData) vssd2 = NULL;
        g_autoptr(GPtrArray) rasds2 = NULL;
        g_autoptr(GPtrArray) before = NULL;
        g_autoptr(GPtrArray) now = NULL;

        g_clear_pointer(&def, hvd_domain_def_free);
        def = hvd_domain_def_new();
        def->name = g_strdup(e->name);
        memcpy(def->uuid, e->uuid, 16);
        def->id = flags & VIR_DOMAIN_XML_INACTIVE ? -1 : hvd_vm_entry_id(e);
        if (vssd->Notes)
            def->description = g_strjoinv("\n", vssd->Notes);
        ok = hvd_driver_fill_domain(d, c, rasds, NULL, def, &local);
        if (ok || attempt == 4) {
            if (!ok)
                g_propagate_error(error, g_steal_pointer(&local));
            break;
        }
        before = disk_paths(rasds);
        if (!read_settings(d, c, e, &vssd2, &rasds2, NULL) ||
            same_paths(before, now = disk_paths(rasds2))) {
            g_propagate_error(error, g_steal_pointer(&local));
            break;
        }
        g_debug("%s: the disks of '%s' changed while read: %s",
                hvd_driver_name(d), e->name, local->message);
        g_clear_pointer(&before, g_ptr_array_unref);
        g_clear_pointer(&now, g_ptr_array_unref);
        g_clear_pointer(&vssd, wmi_typed_free);
        g_clear_pointer(&rasds, g_ptr_array_unref);
        vssd = g_steal_pointer(&vssd2);
        rasds = g_steal_pointer(&rasds2);
    }
    hvd_driver_client_put(d, c);
    return ok ? hvd_domain_def_format(def) : NULL;
}

/* Lifecycle */

gboolean
hvd_driver_change_state(HvdDriver *d, const VmEntry *e, guint16 requested,
                        int hint, GError **error)
{
    WsmanClient *c = hvd_driver_client_get(d, error);
    HvJobWait wait = hvd_driver_job_wait(d);
    g_autoptr(GError) local = NULL;
    gboolean ok;

    if (!c)
        return FALSE;
    g_mutex_lock(&d->lock);
    if (hint >= 0)
        g_hash_table_insert(d->hints, g_memdup2(e->uuid, 16),
                            GINT_TO_POINTER(hint));
    g_mutex_unlock(&d->lock);
    ok = hv_vm_request_state(c, e->guid, requested, &wait, &local);
    if (!ok) {
        g_mutex_lock(&d->lock);
        g_hash_table_remove(d->hints, e->uuid);
        g_mutex_unlock(&d->lock);
        hvd_driver_map_error(error, g_steal_pointer(&local));
    } else {
        ok = hvd_driver_refresh_vm(d, c, e, NULL, error);
    }
    hvd_driver_client_put(d, c);
    return ok;
}

/* A change of state a domain call asks for */
typedef struct {
    const char *api; /* for the flags' error */
    guint flags;     /* what the call accepts */
    gboolean (*allowed)(guint16 enabled_state);
    const char *refusal;
    guint16 requested; /* MSVM_REQUESTED_STATE_* */
    int event;         /* the stopped event's detail, or -1 */
} StateChange;

static gboolean
is_off(guint16 s)
{
    return !hvd_state_active(s);
}

static gboolean
is_running(guint16 s)
{
    return hvd_state_active(s) && !hvd_state_paused(s);
}

static const StateChange START = {
    "hvdDomainCreateWithFlags",      VIR_DOMAIN_START_PAUSED,    is_off,
    N_("domain is already running"), MSVM_REQUESTED_STATE_START, -1,
};
/* the guest's integration services shut it down, as an ACPI button or an
 * agent would */
static const StateChange SHUTDOWN = {
    "hvdDomainShutdownFlags",
    VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN | VIR_DOMAIN_SHUTDOWN_GUEST_AGENT,
    is_running,
    N_("domain is not running"),
    MSVM_REQUESTED_STATE_SHUT_DOWN,
    VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN,
};
static const StateChange DESTROY = {
    "hvdDomainDestroyFlags",
    VIR_DOMAIN_DESTROY_GRACEFUL,
    hvd_state_active,
    N_("domain is not running"),
    MSVM_REQUESTED_STATE_TURN_OFF,
    VIR_DOMAIN_EVENT_STOPPED_DESTROYED,
};
static const StateChange SUSPEND = {
    "hvdDomainSuspend",         0,  is_running, N_("domain is not running"),
    MSVM_REQUESTED_STATE_PAUSE, -1,
};
static const StateChange RESUME = {
    "hvdDomainResume",          0,
    hvd_state_paused,           N_("domain is not paused"),
    MSVM_REQUESTED_STATE_START, -1,
};

static gboolean
change_state(HvdDriver *d, const guchar uuid[16], guint flags,
             const StateChange *how, GError **error)
{
    g_autoptr(VmEntry) e = NULL;

    if (!hvd_check_flags(flags, how->flags, how->api, error) ||
        !(e = hvd_driver_find_vm(d, uuid, error)))
        return FALSE;
    if (!how->allowed(e->enabled_state)) {
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_OPERATION_INVALID, "%s",
                      _(how->refusal));
        return FALSE;
    }
    return hvd_driver_change_state(d, e, how->requested, how->event, error);
}

HvdDomain *
hvd_domain_create(HvdDriver *d, const guchar uuid[16], guint flags,
                  GError **error)
{
    g_autoptr(VmEntry) e = NULL;

    if (!change_state(d, uuid, flags, &START, error))
        return NULL;
    if ((flags & VIR_DOMAIN_START_PAUSED) &&
        !change_state(d, uuid, 0, &SUSPEND, error))
        return NULL;
    e = hvd_driver_find_vm(d, uuid, error);
    return e ? hvd_vm_entry_domain(e) : NULL;
}

gboolean
hvd_domain_shutdown(HvdDriver *d, const guchar uuid[16], guint flags,
                    GError **error)
{
    return change_state(d, uuid, flags, &SHUTDOWN, error);
}

gboolean
hvd_domain_destroy(HvdDriver *d, const guchar uuid[16], guint flags,
                   GError **error)
{
    return change_state(d, uuid, flags, &DESTROY, error);
}

gboolean
hvd_domain_suspend(HvdDriver *d, const guchar uuid[16], GError **error)
{
    return change_state(d, uuid, 0, &SUSPEND, error);
}

gboolean
hvd_domain_resume(HvdDriver *d, const guchar uuid[16], GError **error)
{
    return change_state(d, uuid, 0, &RESUME, error);
}

/* Block info */

gboolean
hvd_domain_get_block_info(HvdDriver *d, const guchar uuid[16], const char *disk,
                          guint flags, virDomainBlockInfo *info, GError **error)
{
    g_autoptr(VmEntry) e = NULL;
    g_autoptr(GPtrArray) rasds = NULL;
    g_autoptr(GPtrArray) paths = NULL;
    g_autoptr(GPtrArray) chain = NULL;
    g_autoptr(WmiEpr) img = NULL;
    g_autoptr(GError) local = NULL;
    const char *path = NULL;
    WsmanClient *c;
    gboolean ok = TRUE;

    if (!hvd_check_flags(flags, 0, "hvdDomainGetBlockInfo", error) ||
        !(e = hvd_driver_find_vm(d, uuid, error)) ||
        !(c = hvd_driver_client_get(d, error)))
        return FALSE;
    if (!read_settings(d, c, e, NULL, &rasds, error)) {
        hvd_driver_client_put(d, c);
        return FALSE;
    }
    paths = disk_paths(rasds);
    for (guint i = 0; !path && i < paths->len; i++) {
        g_autofree char *target = disk_target(i);
        if (g_str_equal(target, disk) ||
            g_ascii_strcasecmp(paths->pdata[i], disk) == 0)
            path = paths->pdata[i];
    }
    if (!path) {
        hvd_driver_client_put(d, c);
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INVALID_ARG,
                      _("domain '%s' has no disk '%s' "
                        "(name a target such as sda, or a disk's file)"),
                      e->name, disk);
        return FALSE;
    }
    memset(info, 0, sizeof(*info));
    img = hv_service_epr(c, HV_IMAGE_SERVICE, &local);
    chain = img ? hv_disk_chain(c, img, path, &local) : NULL;
    for (guint i = 0; chain && i < chain->len; i++) {
        Msvm_VirtualHardDiskSettingData *l = chain->pdata[i];
        g_autoptr(Msvm_VirtualHardDiskState) st =
            hv_disk_state(c, img, l->Path, &local);
        if (!st) {
            ok = FALSE;
            break;
        }
        if (i == 0) {
            info->capacity = l->MaxInternalSize;
            info->physical = st->FileSize;
        }
        info->allocation += st->FileSize;
    }
    hvd_driver_client_put(d, c);
    if (!chain || !ok) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    return TRUE;
}

/* Memory */

gboolean
hvd_domain_memory_stats(HvdDriver *d, const guchar uuid[16], guint max,
                        guint flags, GArray **stats, GError **error)
{
    g_autoptr(VmEntry) e = NULL;
    virDomainMemoryStatStruct st;

    if (!hvd_check_flags(flags, 0, "hvdDomainMemoryStats", error) ||
        !(e = find_with_settings(d, uuid, error)))
        return FALSE;
    if (!hvd_state_active(e->enabled_state)) {
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_OPERATION_INVALID,
                      _("domain '%s' is not running"), e->name);
        return FALSE;
    }
    *stats = g_array_new(FALSE, FALSE, sizeof(virDomainMemoryStatStruct));
    /* the memory Hyper-V gives the running VM, in KiB as libvirt counts */
    st.tag = VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON;
    st.val = e->memory_mb * 1024;
    if (max > (*stats)->len)
        g_array_append_val(*stats, st);
    return TRUE;
}

/* Managed save */

gboolean
hvd_domain_managed_save_remove(HvdDriver *d, const guchar uuid[16], guint flags,
                               GError **error)
{
    g_autoptr(VmEntry) e = NULL;

    if (!hvd_check_flags(flags, 0, "hvdDomainManagedSaveRemove", error) ||
        !(e = hvd_driver_find_vm(d, uuid, error)))
        return FALSE;
    /* turning a saved VM off is how Hyper-V deletes its saved state; a VM
     * without one has nothing to remove */
    if (!hvd_state_saved(e->enabled_state))
        return TRUE;
    return hvd_driver_change_state(d, e, MSVM_REQUESTED_STATE_TURN_OFF, -1,
                                   error);
}

/* Processors: Hyper-V adds none to a running VM, so the maximum and the
 * current count are one number, the VM's setting */
gboolean
hvd_domain_get_vcpus_flags(HvdDriver *d, const guchar uuid[16], guint flags,
                           int *count, GError **error)
{
    g_autoptr(VmEntry) e = NULL;

    if (!hvd_check_flags(flags,
                         VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                             VIR_DOMAIN_VCPU_MAXIMUM,
                         "hvdDomainGetVcpusFlags", error))
        return FALSE;
    if (!hvd_check_exclusive(flags, VIR_DOMAIN_AFFECT_LIVE,
                             VIR_DOMAIN_AFFECT_CONFIG, "live", "config",
                             HVD_ERROR_HYPERV, error))
        return FALSE;
    if (!(e = find_with_settings(d, uuid, error)))
        return FALSE;
    if ((flags & VIR_DOMAIN_AFFECT_LIVE) &&
        !hvd_state_active(e->enabled_state)) {
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_OPERATION_INVALID,
                      _("domain '%s' is not running"), e->name);
        return FALSE;
    }
    *count = e->vcpus;
    return TRUE;
}
