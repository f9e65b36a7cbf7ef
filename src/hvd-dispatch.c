/*
 * hvd-dispatch.c: the remote procedures virthypervd serves, on driver/
 *
 * Each handler decodes nothing and formats nothing: hvd-server gives it
 * the arguments rpcgen decoded and sends what it fills in. Domains are
 * named in arguments by UUID, as libvirtd does.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

/* for VIR_DOMAIN_EVENT_ID_LAST: the event IDs the installed libvirt knows */
#define VIR_ENUM_SENTINELS

#include <glib/gi18n-lib.h>
#include <stdlib.h>
#include <string.h>

#include "hvd-dispatch.h"

/* libvirt's internal feature numbers (src/libvirt_internal.h) */
enum {
    FEATURE_PROGRAM_KEEPALIVE = 10,
    FEATURE_REMOTE_EVENT_CALLBACK = 14,
    FEATURE_REMOTE_CLOSE_CALLBACK = 15,
};

/* CONNECT_OPEN flags of the remote driver: bit 0 is read-only */
#define OPEN_READ_ONLY 1u

/* Hyper-V's limit of virtual processors per VM (generation 2) */
#define HYPERV_MAX_VCPUS 240

/* One client connection's state */

/* The objects events are registered for: only domains exist here */
typedef enum {
    EVENTS_DOMAIN,
    EVENTS_NETWORK,
    EVENTS_STORAGE_POOL,
    EVENTS_NODE_DEVICE,
} EventKind;

typedef struct {
    int id;
    EventKind kind;
    int event_id;
    gboolean all; /* every domain, or the one of uuid */
    guchar uuid[16];
} Callback;

/* in a GLib atomic reference-counted box */
typedef struct {
    HvdClient *client;
    HvdDriver *driver;
    char *uri; /* as the client opened it, or NULL */
    GMutex lock;
    gboolean closed;         /* the client is gone: no listener any more */
    gboolean close_callback; /* told of the daemon's shutdown */
    GArray *callbacks;       /* Callback */
    int next_callback;
    guint listener;
} Conn;

static HvdDaemon *
daemon_of(HvdCall *call)
{
    return hvd_server_get_data(hvd_client_get_server(call->client));
}

static void
conn_clear(Conn *c)
{
    hvd_client_unref(c->client);
    g_array_unref(c->callbacks);
    g_free(c->uri);
    g_mutex_clear(&c->lock);
}

static void
conn_unref(gpointer p)
{
    g_atomic_rc_box_release_full(p, (GDestroyNotify) conn_clear);
}

/* Held for the whole call by the server, even if the client goes */
static Conn *
conn_of(HvdCall *call)
{
    return call->data;
}

static HvdDriver *
driver_of(HvdCall *call)
{
    return conn_of(call)->driver;
}

static gboolean
fail(HvdCall *call, GError *error)
{
    hvd_call_fail(call, error->code, hvd_error_vir_domain(error), "%s",
                  error->message);
    g_error_free(error);
    return FALSE;
}

/* rpcgen's structs are freed with free(): fill them with malloc'd data */
static void
set_domain(hvd_nonnull_domain *out, const HvdDomain *dom)
{
    out->name = strdup(dom->name);
    memcpy(out->uuid, dom->uuid, 16);
    out->id = dom->id;
}

static gboolean
domain_reply(HvdCall *call, HvdDomain *dom, GError *error, hvd_domain_ret *ret)
{
    if (!dom)
        return fail(call, error);
    set_domain(&ret->dom, dom);
    hvd_domain_free(dom);
    return TRUE;
}

#define UUID(args) ((const guchar *) (args)->dom.uuid)

/* Connection */

static gboolean
auth_list(HvdCall *call, gpointer a, gpointer r)
{
    hvd_auth_list_ret *ret = r;

    ret->types.types_len = 1;
    ret->types.types_val = calloc(1, sizeof(hvd_auth_type));
    ret->types.types_val[0] = HVD_AUTH_NONE;
    return TRUE;
}

static gboolean
supports_feature(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_supports_feature_args *args = a;
    hvd_int_ret *ret = r;

    switch (args->feature) {
    case FEATURE_PROGRAM_KEEPALIVE:
    case FEATURE_REMOTE_EVENT_CALLBACK:
    case FEATURE_REMOTE_CLOSE_CALLBACK:
        ret->value = 1;
        break;
    default:
        ret->value = 0;
        break;
    }
    return TRUE;
}

static gboolean
connect_open(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_open_args *args = a;
    GError *err = NULL;
    HvdDriver *driver;
    Conn *c;

    if (hvd_client_is_open(call->client)) {
        hvd_call_fail(call, VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC,
                      _("connection already open"));
        return FALSE;
    }
    driver =
        hvd_daemon_open(daemon_of(call), args->name ? *args->name : NULL, &err);
    if (!driver || !hvd_driver_connect(driver, &err))
        return fail(call, err);
    c = g_atomic_rc_box_new0(Conn);
    c->client = hvd_client_ref(call->client);
    c->driver = driver;
    g_mutex_init(&c->lock);
    c->callbacks = g_array_new(FALSE, FALSE, sizeof(Callback));
    c->uri = args->name && **args->name ? g_strdup(*args->name) : NULL;
    hvd_client_set_data(call->client, c, g_atomic_rc_box_acquire, conn_unref);
    if (args->flags & OPEN_READ_ONLY)
        hvd_client_set_read_only(call->client);
    hvd_client_set_open(call->client, TRUE);
    return TRUE;
}

static void
conn_close(Conn *c)
{
    guint listener;

    g_mutex_lock(&c->lock);
    listener = c->listener;
    c->listener = 0;
    g_array_set_size(c->callbacks, 0);
    g_mutex_unlock(&c->lock);

    if (listener)
        hvd_driver_remove_listener(c->driver, listener);
}

static gboolean
connect_close(HvdCall *call, gpointer a, gpointer r)
{
    Conn *c = conn_of(call);

    conn_close(c);
    hvd_client_set_open(call->client, FALSE);
    return TRUE;
}

void
hvd_dispatch_client_closed(HvdClient *client, gpointer client_data,
                           gpointer server_data)
{
    Conn *c = client_data;

    if (!c)
        return;
    g_mutex_lock(&c->lock);
    c->closed = TRUE;
    g_mutex_unlock(&c->lock);
    conn_close(c);
}

static gboolean
get_type(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_get_type_ret *ret = r;
    ret->type = strdup("HYPERV");
    return TRUE;
}

static gboolean
get_version(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_get_version_ret *ret = r;
    GError *err = NULL;
    guint64 v;

    if (!hvd_connect_get_version(driver_of(call), &v, &err))
        return fail(call, err);
    ret->hv_ver = v;
    return TRUE;
}

static gboolean
get_lib_version(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_get_lib_version_ret *ret = r;
    /* the libvirt whose protocol this daemon speaks */
    ret->lib_ver = LIBVIR_VERSION_NUMBER;
    return TRUE;
}

static gboolean
get_max_vcpus(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_get_max_vcpus_args *args = a;
    hvd_int_ret *ret = r;

    if (args->type && *args->type &&
        g_ascii_strcasecmp(*args->type, "hyperv")) {
        hvd_call_fail(call, VIR_ERR_INVALID_ARG, VIR_FROM_HYPERV,
                      _("invalid argument: unknown type '%s'"), *args->type);
        return FALSE;
    }
    ret->value = HYPERV_MAX_VCPUS;
    return TRUE;
}

static gboolean
node_get_info(HvdCall *call, gpointer a, gpointer r)
{
    hvd_node_get_info_ret *ret = r;
    GError *err = NULL;
    virNodeInfo info;

    if (!hvd_node_get_info(driver_of(call), &info, &err))
        return fail(call, err);
    memcpy(ret->model, info.model, sizeof(ret->model));
    ret->memory = info.memory;
    ret->cpus = info.cpus;
    ret->mhz = info.mhz;
    ret->nodes = info.nodes;
    ret->sockets = info.sockets;
    ret->cores = info.cores;
    ret->threads = info.threads;
    return TRUE;
}

/* Domains */

static gboolean
list_all_domains(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_list_all_domains_args *args = a;
    hvd_connect_list_all_domains_ret *ret = r;
    GError *err = NULL;
    g_autoptr(GPtrArray) doms =
        hvd_connect_list_all_domains(driver_of(call), args->flags, &err);

    if (!doms)
        return fail(call, err);
    if (doms->len > HVD_DOMAIN_LIST_MAX) {
        hvd_call_fail(call, VIR_ERR_INTERNAL_ERROR, VIR_FROM_HYPERV,
                      _("internal error: too many domains (%u, at most %d)"),
                      doms->len, HVD_DOMAIN_LIST_MAX);
        return FALSE;
    }
    if (args->need_results && doms->len) {
        ret->domains.domains_len = doms->len;
        ret->domains.domains_val =
            calloc(doms->len, sizeof(hvd_nonnull_domain));
        for (guint i = 0; i < doms->len; i++)
            set_domain(&ret->domains.domains_val[i], doms->pdata[i]);
    }
    ret->ret = doms->len;
    return TRUE;
}

static gboolean
lookup_by_name(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_lookup_by_name_args *args = a;
    GError *err = NULL;
    HvdDomain *dom =
        hvd_domain_lookup_by_name(driver_of(call), args->name, &err);
    return domain_reply(call, dom, err, r);
}

static gboolean
lookup_by_uuid(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_lookup_by_uuid_args *args = a;
    GError *err = NULL;
    HvdDomain *dom = hvd_domain_lookup_by_uuid(
        driver_of(call), (const guchar *) args->uuid, &err);
    return domain_reply(call, dom, err, r);
}

static gboolean
lookup_by_id(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_lookup_by_id_args *args = a;
    GError *err = NULL;
    HvdDomain *dom = hvd_domain_lookup_by_id(driver_of(call), args->id, &err);
    return domain_reply(call, dom, err, r);
}

static gboolean
domain_get_info(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_args *args = a;
    hvd_domain_get_info_ret *ret = r;
    GError *err = NULL;
    virDomainInfo info;

    if (!hvd_domain_get_info(driver_of(call), UUID(args), &info, &err))
        return fail(call, err);
    ret->state = info.state;
    ret->max_mem = info.maxMem;
    ret->memory = info.memory;
    ret->nr_virt_cpu = info.nrVirtCpu;
    ret->cpu_time = info.cpuTime;
    return TRUE;
}

static gboolean
domain_get_state(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_flags_args *args = a;
    hvd_domain_get_state_ret *ret = r;
    GError *err = NULL;

    if (!hvd_domain_get_state(driver_of(call), UUID(args), args->flags,
                              &ret->state, &ret->reason, &err))
        return fail(call, err);
    return TRUE;
}

/* virsh dominfo asks last; Hyper-V records no deprecation or tainting,
 * so a domain that exists has none, and one the host cannot be asked
 * about fails with the real reason */
static gboolean
domain_get_messages(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_flags_args *args = a;
    GError *err = NULL;
    gboolean active;

    if (!hvd_check_flags(args->flags,
                         VIR_DOMAIN_MESSAGE_DEPRECATION |
                             VIR_DOMAIN_MESSAGE_TAINTING,
                         "hvdDomainGetMessages", &err) ||
        !hvd_domain_is_active(driver_of(call), UUID(args), &active, &err))
        return fail(call, err);
    return TRUE;
}

static gboolean
domain_get_os_type(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_args *args = a;
    hvd_string_ret *ret = r;
    GError *err = NULL;
    gboolean active;

    /* only to say the domain exists */
    if (!hvd_domain_is_active(driver_of(call), UUID(args), &active, &err))
        return fail(call, err);
    ret->value = strdup("hvm");
    return TRUE;
}

static gboolean
domain_is_persistent(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_args *args = a;
    GError *err = NULL;
    gboolean active;

    /* every Hyper-V virtual machine is defined on the host: the question
     * only checks that the domain exists */
    if (!hvd_domain_is_active(driver_of(call), UUID(args), &active, &err))
        return fail(call, err);
    ((hvd_int_ret *) r)->value = 1;
    return TRUE;
}

static gboolean
domain_create(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_args *args = a;
    GError *err = NULL;
    HvdDomain *dom = hvd_domain_create(driver_of(call), UUID(args), 0, &err);

    if (!dom)
        return fail(call, err);
    hvd_domain_free(dom);
    return TRUE;
}

static gboolean
domain_create_with_flags(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_flags_args *args = a;
    GError *err = NULL;
    HvdDomain *dom =
        hvd_domain_create(driver_of(call), UUID(args), args->flags, &err);
    return domain_reply(call, dom, err, r);
}

/* Events */

static void
on_event(const HvdDomain *dom, int event, int detail, gpointer data)
{
    Conn *c = data;
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(int));

    g_mutex_lock(&c->lock);
    for (guint i = 0; i < c->callbacks->len; i++) {
        Callback *cb = &g_array_index(c->callbacks, Callback, i);
        if (cb->kind == EVENTS_DOMAIN &&
            cb->event_id == VIR_DOMAIN_EVENT_ID_LIFECYCLE &&
            (cb->all || memcmp(cb->uuid, dom->uuid, 16) == 0))
            g_array_append_val(ids, cb->id);
    }
    g_mutex_unlock(&c->lock);
    for (guint i = 0; i < ids->len; i++) {
        hvd_domain_event_callback_lifecycle_msg msg = { 0 };
        msg.callback_id = g_array_index(ids, int, i);
        msg.dom.name = dom->name;
        memcpy(msg.dom.uuid, dom->uuid, 16);
        msg.dom.id = dom->id;
        msg.event = event;
        msg.detail = detail;
        hvd_client_send_event(
            c->client, HVD_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE,
            (xdrproc_t) xdr_hvd_domain_event_callback_lifecycle_msg, &msg);
    }
}

/* Adds a callback; the first for domains starts listening to the driver */
static int
add_callback(Conn *c, Callback *cb)
{
    gboolean first = FALSE;

    g_mutex_lock(&c->lock);
    cb->id = c->next_callback++;
    if (cb->kind == EVENTS_DOMAIN)
        first = c->listener == 0 && !c->closed;
    g_array_append_val(c->callbacks, *cb);
    g_mutex_unlock(&c->lock);
    if (first) {
        guint id = hvd_driver_add_listener(
            c->driver, on_event, g_atomic_rc_box_acquire(c), conn_unref);
        g_mutex_lock(&c->lock);
        /* a client gone meanwhile keeps no listener */
        if (c->listener == 0 && !c->closed) {
            c->listener = id;
            id = 0;
        }
        g_mutex_unlock(&c->lock);
        if (id)
            hvd_driver_remove_listener(c->driver, id);
    }
    return cb->id;
}

static gboolean
remove_callback(HvdCall *call, EventKind kind, int id)
{
    Conn *c = conn_of(call);
    gboolean found = FALSE, domains = FALSE;
    guint listener = 0;

    g_mutex_lock(&c->lock);
    for (guint i = 0; i < c->callbacks->len; i++) {
        Callback *cb = &g_array_index(c->callbacks, Callback, i);
        if (!found && cb->id == id && cb->kind == kind) {
            g_array_remove_index(c->callbacks, i--);
            found = TRUE;
        } else if (cb->kind == EVENTS_DOMAIN) {
            domains = TRUE;
        }
    }
    if (found && !domains) {
        listener = c->listener;
        c->listener = 0;
    }
    g_mutex_unlock(&c->lock);
    if (listener)
        hvd_driver_remove_listener(c->driver, listener);
    if (!found) {
        hvd_call_fail(call, VIR_ERR_INVALID_ARG, VIR_FROM_HYPERV,
                      _("invalid argument: callback %d not registered"), id);
        return FALSE;
    }
    return TRUE;
}

static gboolean
bad_event_id(HvdCall *call, int event_id, int last)
{
    if (event_id >= 0 && event_id < last)
        return FALSE;
    hvd_call_fail(call, VIR_ERR_INVALID_ARG, VIR_FROM_HYPERV,
                  _("invalid argument: unsupported event ID %d"), event_id);
    return TRUE;
}

static gboolean
event_register(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_domain_event_callback_register_any_args *args = a;
    hvd_int_ret *ret = r;
    Callback cb = { .kind = EVENTS_DOMAIN };

    if (bad_event_id(call, args->event_id, VIR_DOMAIN_EVENT_ID_LAST))
        return FALSE;
    cb.event_id = args->event_id;
    cb.all = args->dom == NULL;
    if (args->dom)
        memcpy(cb.uuid, args->dom->uuid, 16);
    /* only lifecycle events are ever sent; the others have nothing to
     * say on Hyper-V, as libvirt's drivers that lack them do */
    ret->value = add_callback(conn_of(call), &cb);
    return TRUE;
}

static gboolean
event_deregister(HvdCall *call, gpointer a, gpointer r)
{
    hvd_callback_id_args *args = a;
    return remove_callback(call, EVENTS_DOMAIN, args->callback_id);
}

/* Networks, storage pools and node devices: a connection to Hyper-V has
 * none, so, as a libvirt connection with none of them, a registration is
 * taken and never sees an event */
static gboolean
other_register(HvdCall *call, EventKind kind, int event_id, int last,
               hvd_int_ret *ret)
{
    Callback cb = { .kind = kind, .event_id = event_id, .all = TRUE };

    if (bad_event_id(call, event_id, last))
        return FALSE;
    ret->value = add_callback(conn_of(call), &cb);
    return TRUE;
}

/* The three kinds by procedure: register, deregister, and the number of
 * event IDs libvirt defines for the kind */
static const struct {
    int register_proc, deregister_proc;
    EventKind kind;
    int last;
} object_events[] = {
    { HVD_PROC_CONNECT_NETWORK_EVENT_REGISTER_ANY,
      HVD_PROC_CONNECT_NETWORK_EVENT_DEREGISTER_ANY, EVENTS_NETWORK,
      VIR_NETWORK_EVENT_ID_LAST },
    { HVD_PROC_CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY,
      HVD_PROC_CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY, EVENTS_STORAGE_POOL,
      VIR_STORAGE_POOL_EVENT_ID_LAST },
    { HVD_PROC_CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY,
      HVD_PROC_CONNECT_NODE_DEVICE_EVENT_DEREGISTER_ANY, EVENTS_NODE_DEVICE,
      VIR_NODE_DEVICE_EVENT_ID_LAST },
};

static gboolean
object_event_register(HvdCall *call, gpointer a, gpointer r)
{
    /* the arguments of each kind begin with the event ID */
    int event_id =
        ((hvd_connect_network_event_register_any_args *) a)->event_id;

    for (guint i = 0; i < G_N_ELEMENTS(object_events); i++)
        if (object_events[i].register_proc == call->header.proc)
            return other_register(call, object_events[i].kind, event_id,
                                  object_events[i].last, r);
    g_return_val_if_reached(FALSE);
}

static gboolean
object_event_deregister(HvdCall *call, gpointer a, gpointer r)
{
    int id = ((hvd_callback_id_args *) a)->callback_id;

    for (guint i = 0; i < G_N_ELEMENTS(object_events); i++)
        if (object_events[i].deregister_proc == call->header.proc)
            return remove_callback(call, object_events[i].kind, id);
    g_return_val_if_reached(FALSE);
}

/* The close callback: told with CONNECT_EVENT_CONNECTION_CLOSED when the
 * daemon stops */
static gboolean
close_callback(HvdCall *call, gboolean on)
{
    Conn *c = conn_of(call);

    g_mutex_lock(&c->lock);
    c->close_callback = on;
    g_mutex_unlock(&c->lock);
    return TRUE;
}

static gboolean
register_close_callback(HvdCall *call, gpointer a, gpointer r)
{
    return close_callback(call, TRUE);
}

static gboolean
unregister_close_callback(HvdCall *call, gpointer a, gpointer r)
{
    return close_callback(call, FALSE);
}

void
hvd_dispatch_client_goodbye(HvdClient *client, gpointer client_data,
                            gpointer server_data)
{
    Conn *c = client_data;
    hvd_connect_event_connection_closed_msg msg = {
        .reason = VIR_CONNECT_CLOSE_REASON_EOF
    };
    gboolean tell;

    g_mutex_lock(&c->lock);
    tell = c->close_callback && !c->closed;
    g_mutex_unlock(&c->lock);
    if (tell)
        hvd_client_send_event(
            client, HVD_PROC_CONNECT_EVENT_CONNECTION_CLOSED,
            (xdrproc_t) xdr_hvd_connect_event_connection_closed_msg, &msg);
}

/* Snapshots: the client names a snapshot by its domain and name */

#define SNAP_UUID(args) ((const guchar *) (args)->snap.dom.uuid)

static void
set_snapshot(hvd_nonnull_domain_snapshot *out, const hvd_nonnull_domain *dom,
             const char *name)
{
    out->name = strdup(name);
    out->dom.name = strdup(dom->name);
    memcpy(out->dom.uuid, dom->uuid, 16);
    out->dom.id = dom->id;
}

static gboolean
snapshot_reply(HvdCall *call, const hvd_nonnull_domain *dom, char *name,
               GError *error, hvd_snapshot_ret *ret)
{
    if (!name)
        return fail(call, error);
    set_snapshot(&ret->snap, dom, name);
    g_free(name);
    return TRUE;
}

static gboolean
snapshot_create_xml(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_snapshot_create_xml_args *args = a;
    GError *err = NULL;
    char *name = hvd_domain_snapshot_create_xml(
        driver_of(call), UUID(args), args->xml_desc, args->flags, &err);
    return snapshot_reply(call, &args->dom, name, err, r);
}

static gboolean
snapshot_lookup_by_name(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_snapshot_lookup_by_name_args *args = a;
    GError *err = NULL;
    char *name = hvd_domain_snapshot_lookup_by_name(
        driver_of(call), UUID(args), args->name, args->flags, &err);
    return snapshot_reply(call, &args->dom, name, err, r);
}

static gboolean
snapshot_current(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_flags_args *args = a;
    GError *err = NULL;
    char *name = hvd_domain_snapshot_current(driver_of(call), UUID(args),
                                             args->flags, TRUE, &err);
    return snapshot_reply(call, &args->dom, name, err, r);
}

static gboolean
has_current_snapshot(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_flags_args *args = a;
    hvd_int_ret *ret = r;
    GError *err = NULL;
    g_autofree char *name = hvd_domain_snapshot_current(
        driver_of(call), UUID(args), args->flags, FALSE, &err);

    if (!name && err)
        return fail(call, err);
    ret->value = name != NULL;
    return TRUE;
}

static gboolean
snapshot_get_parent(HvdCall *call, gpointer a, gpointer r)
{
    hvd_snapshot_flags_args *args = a;
    GError *err = NULL;
    char *name = hvd_domain_snapshot_get_parent(
        driver_of(call), SNAP_UUID(args), args->snap.name, args->flags, &err);
    return snapshot_reply(call, &args->snap.dom, name, err, r);
}

/* Every list of snapshots: names or handles, of the domain (from NULL) or
 * of a snapshot's children; maxnames < 0 asks for the count only. */
static GPtrArray *
snapshot_names(HvdCall *call, const hvd_nonnull_domain *dom, const char *from,
               guint flags, int maxnames, GError **error)
{
    GPtrArray *names = hvd_domain_list_all_snapshots(
        driver_of(call), (const guchar *) dom->uuid, from, flags, error);

    if (names && maxnames >= 0 && names->len > (guint) maxnames) {
        g_set_error(error, HVD_ERROR_SNAPSHOT, VIR_ERR_RPC,
                    _("too many snapshots: %u, the client takes %d"),
                    names->len, maxnames);
        g_ptr_array_unref(names);
        return NULL;
    }
    return names;
}

static gboolean
names_reply(HvdCall *call, GPtrArray *names, GError *err, hvd_names_ret *ret)
{
    if (!names)
        return fail(call, err);
    ret->names.names_len = names->len;
    ret->names.names_val = calloc(MAX(names->len, 1), sizeof(char *));
    for (guint i = 0; i < names->len; i++)
        ret->names.names_val[i] = strdup(names->pdata[i]);
    g_ptr_array_unref(names);
    return TRUE;
}

static gboolean
count_reply(HvdCall *call, GPtrArray *names, GError *err, hvd_int_ret *ret)
{
    if (!names)
        return fail(call, err);
    ret->value = names->len;
    g_ptr_array_unref(names);
    return TRUE;
}

static gboolean
list_reply(HvdCall *call, const hvd_nonnull_domain *dom, GPtrArray *names,
           GError *err, gboolean need_results, hvd_snapshot_list_ret *ret)
{
    if (!names)
        return fail(call, err);
    ret->ret = names->len;
    if (need_results) {
        ret->snapshots.snapshots_len = names->len;
        ret->snapshots.snapshots_val =
            calloc(MAX(names->len, 1), sizeof(hvd_nonnull_domain_snapshot));
        for (guint i = 0; i < names->len; i++)
            set_snapshot(&ret->snapshots.snapshots_val[i], dom,
                         names->pdata[i]);
    }
    g_ptr_array_unref(names);
    return TRUE;
}

static gboolean
snapshot_num(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_flags_args *args = a;
    GError *err = NULL;
    GPtrArray *names =
        snapshot_names(call, &args->dom, NULL, args->flags, -1, &err);
    return count_reply(call, names, err, r);
}

static gboolean
snapshot_list_names(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_snapshot_list_names_args *args = a;
    GError *err = NULL;
    GPtrArray *names = snapshot_names(call, &args->dom, NULL, args->flags,
                                      MAX(args->maxnames, 0), &err);
    return names_reply(call, names, err, r);
}

static gboolean
list_all_snapshots(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_list_all_snapshots_args *args = a;
    GError *err = NULL;
    GPtrArray *names = snapshot_names(call, &args->dom, NULL, args->flags,
                                      HVD_DOMAIN_SNAPSHOT_LIST_MAX, &err);
    return list_reply(call, &args->dom, names, err, args->need_results, r);
}

static gboolean
snapshot_num_children(HvdCall *call, gpointer a, gpointer r)
{
    hvd_snapshot_flags_args *args = a;
    GError *err = NULL;
    GPtrArray *names = snapshot_names(call, &args->snap.dom, args->snap.name,
                                      args->flags, -1, &err);
    return count_reply(call, names, err, r);
}

static gboolean
snapshot_list_children_names(HvdCall *call, gpointer a, gpointer r)
{
    hvd_snapshot_list_children_names_args *args = a;
    GError *err = NULL;
    GPtrArray *names =
        snapshot_names(call, &args->snap.dom, args->snap.name, args->flags,
                       MAX(args->maxnames, 0), &err);
    return names_reply(call, names, err, r);
}

static gboolean
snapshot_list_all_children(HvdCall *call, gpointer a, gpointer r)
{
    hvd_snapshot_list_all_children_args *args = a;
    GError *err = NULL;
    GPtrArray *names =
        snapshot_names(call, &args->snap.dom, args->snap.name, args->flags,
                       HVD_DOMAIN_SNAPSHOT_LIST_MAX, &err);
    return list_reply(call, &args->snap.dom, names, err, args->need_results, r);
}

/* Backups */

static gboolean
domain_backup_begin(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_backup_begin_args *args = a;
    GError *err = NULL;

    if (!hvd_domain_backup_begin(driver_of(call), UUID(args), args->backup_xml,
                                 args->checkpoint_xml ? *args->checkpoint_xml
                                                      : NULL,
                                 args->flags, &err))
        return fail(call, err);
    return TRUE;
}

/* Checkpoints */

static gboolean
checkpoint_create_xml(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_snapshot_create_xml_args *args = a;
    GError *err = NULL;
    char *name = hvd_domain_checkpoint_create_xml(
        driver_of(call), UUID(args), args->xml_desc, args->flags, &err);
    return snapshot_reply(call, &args->dom, name, err, r);
}

static gboolean
checkpoint_lookup_by_name(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_snapshot_lookup_by_name_args *args = a;
    GError *err = NULL;
    char *name = hvd_domain_checkpoint_lookup_by_name(
        driver_of(call), UUID(args), args->name, args->flags, &err);
    return snapshot_reply(call, &args->dom, name, err, r);
}

static gboolean
checkpoint_get_parent(HvdCall *call, gpointer a, gpointer r)
{
    hvd_snapshot_flags_args *args = a;
    GError *err = NULL;
    char *name = hvd_domain_checkpoint_get_parent(
        driver_of(call), SNAP_UUID(args), args->snap.name, args->flags, &err);
    return snapshot_reply(call, &args->snap.dom, name, err, r);
}

static GPtrArray *
checkpoint_names(HvdCall *call, const hvd_nonnull_domain *dom, const char *from,
                 guint flags, GError **error)
{
    GPtrArray *names = hvd_domain_list_all_checkpoints(
        driver_of(call), (const guchar *) dom->uuid, from, flags, error);

    if (names && names->len > HVD_DOMAIN_SNAPSHOT_LIST_MAX) {
        g_set_error(error, HVD_ERROR_CHECKPOINT, VIR_ERR_RPC,
                    _("too many checkpoints: %u, the client takes %d"),
                    names->len, HVD_DOMAIN_SNAPSHOT_LIST_MAX);
        g_ptr_array_unref(names);
        return NULL;
    }
    return names;
}

static gboolean
list_all_checkpoints(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_list_all_snapshots_args *args = a;
    GError *err = NULL;
    GPtrArray *names =
        checkpoint_names(call, &args->dom, NULL, args->flags, &err);
    return list_reply(call, &args->dom, names, err, args->need_results, r);
}

static gboolean
checkpoint_list_all_children(HvdCall *call, gpointer a, gpointer r)
{
    hvd_snapshot_list_all_children_args *args = a;
    GError *err = NULL;
    GPtrArray *names = checkpoint_names(call, &args->snap.dom, args->snap.name,
                                        args->flags, &err);
    return list_reply(call, &args->snap.dom, names, err, args->need_results, r);
}

static gboolean
domain_get_job_info(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_args *args = a;
    hvd_domain_get_job_info_ret *ret = r;
    GError *err = NULL;
    virDomainJobInfo info;

    if (!hvd_domain_get_job_info(driver_of(call), UUID(args), &info, &err))
        return fail(call, err);
    ret->type = info.type;
    ret->time_elapsed = info.timeElapsed;
    ret->time_remaining = info.timeRemaining;
    ret->data_total = info.dataTotal;
    ret->data_processed = info.dataProcessed;
    ret->data_remaining = info.dataRemaining;
    ret->mem_total = info.memTotal;
    ret->mem_processed = info.memProcessed;
    ret->mem_remaining = info.memRemaining;
    ret->file_total = info.fileTotal;
    ret->file_processed = info.fileProcessed;
    ret->file_remaining = info.fileRemaining;
    return TRUE;
}

/* The listings of libvirt before 0.9.13: IDs of running domains, names
 * of the others, and how many of each */
static GPtrArray *
legacy_list(HvdCall *call, gboolean active, int max, GError **error)
{
    GPtrArray *doms =
        hvd_connect_list_all_domains(driver_of(call),
                                     active ? VIR_CONNECT_LIST_DOMAINS_ACTIVE
                                            : VIR_CONNECT_LIST_DOMAINS_INACTIVE,
                                     error);

    if (doms && max >= 0 && doms->len > (guint) max)
        g_ptr_array_set_size(doms, max);
    return doms;
}

static gboolean
legacy_check_max(HvdCall *call, int max, const char *what)
{
    if (max <= HVD_DOMAIN_LIST_MAX)
        return TRUE;
    hvd_call_fail(call, VIR_ERR_RPC, VIR_FROM_RPC, _("%s > %s"), what,
                  "REMOTE_DOMAIN_LIST_MAX");
    return FALSE;
}

static gboolean
legacy_count(HvdCall *call, gboolean active, hvd_int_ret *ret)
{
    GError *err = NULL;
    g_autoptr(GPtrArray) doms = legacy_list(call, active, -1, &err);

    if (!doms)
        return fail(call, err);
    ret->value = doms->len;
    return TRUE;
}

static gboolean
num_of_domains(HvdCall *call, gpointer a, gpointer r)
{
    return legacy_count(call, TRUE, r);
}

static gboolean
num_of_defined_domains(HvdCall *call, gpointer a, gpointer r)
{
    return legacy_count(call, FALSE, r);
}

static gboolean
list_domains(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_list_domains_args *args = a;
    hvd_connect_list_domains_ret *ret = r;
    GError *err = NULL;
    g_autoptr(GPtrArray) doms = NULL;

    if (!legacy_check_max(call, args->maxids, "maxids"))
        return FALSE;
    doms = legacy_list(call, TRUE, MAX(args->maxids, 0), &err);
    if (!doms)
        return fail(call, err);
    ret->ids.ids_val = calloc(MAX(doms->len, 1), sizeof(int));
    for (guint i = 0; i < doms->len; i++) {
        const HvdDomain *dom = doms->pdata[i];
        if (dom->id >= 0)
            ret->ids.ids_val[ret->ids.ids_len++] = dom->id;
    }
    return TRUE;
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
    const HvdDomain *x = *(HvdDomain *const *) a, *y = *(HvdDomain *const *) b;
    return g_strcmp0(x->name, y->name);
}

static gboolean
list_defined_domains(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_list_defined_domains_args *args = a;
    hvd_connect_list_defined_domains_ret *ret = r;
    GError *err = NULL;
    g_autoptr(GPtrArray) doms = NULL;

    if (!legacy_check_max(call, args->maxnames, "maxnames"))
        return FALSE;
    doms = legacy_list(call, FALSE, -1, &err);
    if (!doms)
        return fail(call, err);
    g_ptr_array_sort(doms, by_name);
    if (doms->len > (guint) MAX(args->maxnames, 0))
        g_ptr_array_set_size(doms, MAX(args->maxnames, 0));
    ret->names.names_len = doms->len;
    ret->names.names_val = calloc(MAX(doms->len, 1), sizeof(char *));
    for (guint i = 0; i < doms->len; i++)
        ret->names.names_val[i] = strdup(((HvdDomain *) doms->pdata[i])->name);
    return TRUE;
}

/* The URI the client opened, or the one that names the default host */
static gboolean
get_uri(HvdCall *call, gpointer a, gpointer r)
{
    hvd_connect_get_uri_ret *ret = r;
    const char *uri = conn_of(call)->uri;

    ret->uri = strdup(uri ? uri : "hyperv:///system");
    return TRUE;
}

static gboolean
domain_memory_stats(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_memory_stats_args *args = a;
    hvd_domain_memory_stats_ret *ret = r;
    GError *err = NULL;
    g_autoptr(GArray) stats = NULL;

    if (args->max_stats > HVD_DOMAIN_MEMORY_STATS_MAX) {
        hvd_call_fail(call, VIR_ERR_RPC, VIR_FROM_RPC, "%s",
                      _("maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX"));
        return FALSE;
    }
    if (!hvd_domain_memory_stats(driver_of(call), UUID(args), args->max_stats,
                                 args->flags, &stats, &err))
        return fail(call, err);
    ret->stats.stats_len = stats->len;
    ret->stats.stats_val =
        calloc(MAX(stats->len, 1), sizeof(hvd_domain_memory_stat));
    for (guint i = 0; i < stats->len; i++) {
        virDomainMemoryStatStruct *st =
            &g_array_index(stats, virDomainMemoryStatStruct, i);
        ret->stats.stats_val[i].tag = st->tag;
        ret->stats.stats_val[i].val = st->val;
    }
    return TRUE;
}

static gboolean
domain_get_block_info(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_get_block_info_args *args = a;
    hvd_domain_get_block_info_ret *ret = r;
    GError *err = NULL;
    virDomainBlockInfo info;

    if (!hvd_domain_get_block_info(driver_of(call), UUID(args), args->path,
                                   args->flags, &info, &err))
        return fail(call, err);
    ret->capacity = info.capacity;
    ret->allocation = info.allocation;
    ret->physical = info.physical;
    return TRUE;
}

static void
add_param(hvd_domain_get_job_stats_ret *ret, const char *field, int type)
{
    hvd_typed_param *p = &ret->params.params_val[ret->params.params_len++];
    p->field = strdup(field);
    p->value.type = type;
}

static void
add_ullong(hvd_domain_get_job_stats_ret *ret, const char *field, guint64 v)
{
    add_param(ret, field, HVD_TYPED_PARAM_ULLONG);
    ret->params.params_val[ret->params.params_len - 1]
        .value.hvd_typed_param_value_u.ul = v;
}

static gboolean
domain_get_job_stats(HvdCall *call, gpointer a, gpointer r)
{
    hvd_domain_flags_args *args = a;
    hvd_domain_get_job_stats_ret *ret = r;
    GError *err = NULL;
    HvdJobStats st;

    if (!hvd_domain_get_job_stats(driver_of(call), UUID(args), args->flags, &st,
                                  &err))
        return fail(call, err);
    ret->type = st.type;
    if (st.type == VIR_DOMAIN_JOB_NONE)
        return TRUE;
    ret->params.params_val = calloc(8, sizeof(hvd_typed_param));
    add_param(ret, VIR_DOMAIN_JOB_OPERATION, HVD_TYPED_PARAM_INT);
    ret->params.params_val[0].value.hvd_typed_param_value_u.i = st.operation;
    add_ullong(ret, VIR_DOMAIN_JOB_TIME_ELAPSED, st.elapsed_ms);
    if (st.has_data) {
        add_ullong(ret, VIR_DOMAIN_JOB_DATA_TOTAL, st.data_total);
        add_ullong(ret, VIR_DOMAIN_JOB_DATA_PROCESSED, st.data_processed);
        add_ullong(ret, VIR_DOMAIN_JOB_DATA_REMAINING, st.data_remaining);
    }
    if (st.completed) {
        add_param(ret, VIR_DOMAIN_JOB_SUCCESS, HVD_TYPED_PARAM_BOOLEAN);
        ret->params.params_val[ret->params.params_len - 1]
            .value.hvd_typed_param_value_u.b = st.success;
    }
    if (st.error) {
        add_param(ret, VIR_DOMAIN_JOB_ERRMSG, HVD_TYPED_PARAM_STRING);
        ret->params.params_val[ret->params.params_len - 1]
            .value.hvd_typed_param_value_u.s = strdup(st.error);
        g_free(st.error);
    }
    return TRUE;
}

/* The table, from the annotations of hvd_protocol.x (gen-dispatch.py) */
#include "hvd-dispatch-table.h"

const HvdProcedure *
hvd_dispatch_procedures(guint *n)
{
    *n = G_N_ELEMENTS(procedures);
    return procedures;
}
