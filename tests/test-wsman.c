/*
 * test-wsman.c: the WS-Management client, on replies written from the
 * reference and against a scripted HTTP(S) server
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "hv-job.h"
#include "test-tls.h"
#include "wsman.h"

static const char *data_dir = WSMAN_DATA_DIR;

static char *
load(const char *name)
{
    g_autofree char *path = g_build_filename(data_dir, name, NULL);
    char *data = NULL;
    GError *err = NULL;
    g_file_get_contents(path, &data, NULL, &err);
    g_assert_no_error(err);
    return data;
}

static xmlDoc *
parse_file(const char *name, GError **error)
{
    g_autofree char *data = load(name);
    return wsman_parse_envelope(data, strlen(data), "hv01", error);
}

/* The METHOD_OUTPUT element of a reply file, which must be there. */
static WmiObject *
output_of(const char *file, const char *element)
{
    GError *err = NULL;
    xmlDoc *doc = parse_file(file, &err);
    xmlNode *out;
    WmiObject *obj;

    g_assert_no_error(err);
    out = wsman_child(wsman_body(doc), NULL, element);
    g_assert_nonnull(out);
    obj = wsman_parse_instance(out);
    xmlFreeDoc(doc);
    return obj;
}

/* Replies as the client sees them */

static GPtrArray *
items_of(xmlDoc *doc, const char *ns, const char *resp)
{
    xmlNode *r = wsman_child(wsman_body(doc), WSMAN_NS_ENUM, resp);
    xmlNode *items = wsman_child(r, ns, "Items");
    GPtrArray *out =
        g_ptr_array_new_with_free_func((GDestroyNotify) wmi_object_free);
    for (xmlNode *n = items ? items->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            g_ptr_array_add(out, wsman_parse_instance(n));
    return out;
}

static void
test_parse_enumerate_optimized(void)
{
    GError *err = NULL;
    xmlDoc *doc = parse_file("enumerate-optimized.xml", &err);
    g_autoptr(GPtrArray) items = NULL;
    g_autoptr(Msvm_VirtualSystemSettingData) a = NULL, b = NULL;
    g_autoptr(GDateTime) want = NULL;

    g_assert_no_error(err);
    items = items_of(doc, WSMAN_NS_WSMAN, "EnumerateResponse");
    g_assert_cmpuint(items->len, ==, 2);
    a = wmi_typed_new(&Msvm_VirtualSystemSettingData_class,
                      g_ptr_array_steal_index(items, 0), &err);
    g_assert_no_error(err);
    b = wmi_typed_new(&Msvm_VirtualSystemSettingData_class,
                      g_ptr_array_steal_index(items, 0), &err);
    g_assert_no_error(err);

    g_assert_cmpstr(a->ElementName, ==, "before-upgrade");
    g_assert_cmpstr(a->InstanceID, ==,
                    "Microsoft:5C39A06A-464C-4BC1-9A6C-A13833CE5267");
    g_assert_cmpstr(a->VirtualSystemType, ==,
                    MSVM_VIRTUAL_SYSTEM_TYPE_SNAPSHOT_REALIZED);
    g_assert_true(a->IsSaved);
    g_assert_cmpuint(a->UserSnapshotType, ==, MSVM_USER_SNAPSHOT_TYPE_STANDARD);
    g_assert_cmpuint(g_strv_length(a->Notes), ==, 2);
    g_assert_cmpstr(a->Notes[1], ==, "second note");
    g_assert_null(a->Parent);
    g_assert_true(wmi_object_is_nil(a->object, "Parent"));
    want = g_date_time_new_utc(2024, 5, 1, 10, 11, 12.345678);
    g_assert_cmpint(g_date_time_difference(a->CreationTime, want), ==, 0);
    /* unknown properties are kept but ignored; cim:Location is not one */
    g_assert_cmpstr(wmi_object_text(a->object, "SomeFuturePropertyNobodyKnows"),
                    ==, "ignored");
    g_assert_null(wmi_object_values(a->object, "Location"));

    g_assert_null(b->Notes);
    g_assert_false(b->IsSaved);
    g_assert_cmpstr(b->Parent, ==,
                    "\\\\HV01\\root\\virtualization\\v2:Msvm_VirtualSystem"
                    "SettingData.InstanceID=\"Microsoft:5C39A06A-464C-4BC1-"
                    "9A6C-A13833CE5267\"");
    /* +08:00 is kept as an instant */
    g_date_time_unref(want);
    want = g_date_time_new_utc(2024, 5, 2, 0, 0, 0);
    g_assert_cmpint(g_date_time_difference(b->CreationTime, want), ==, 0);
    xmlFreeDoc(doc);
}

/* Windows' shape: one page with an empty context and the end, every
 * property present (null ones nil), datetimes with 0 to 7 fraction digits */
static void
test_parse_one_page(void)
{
    GError *err = NULL;
    xmlDoc *doc = parse_file("enumerate-onepage.xml", &err);
    xmlNode *resp =
        wsman_child(wsman_body(doc), WSMAN_NS_ENUM, "EnumerateResponse");
    g_autoptr(GPtrArray) items = NULL;
    g_autoptr(Msvm_ComputerSystem) a = NULL, b = NULL;
    g_autofree char *context = NULL;

    g_assert_no_error(err);
    context =
        wsman_text(wsman_child(resp, WSMAN_NS_ENUM, "EnumerationContext"));
    g_assert_cmpstr(context, ==, "");
    g_assert_nonnull(wsman_child(resp, WSMAN_NS_WSMAN, "EndOfSequence"));
    items = items_of(doc, WSMAN_NS_WSMAN, "EnumerateResponse");
    g_assert_cmpuint(items->len, ==, 2);
    a = wmi_typed_new(&Msvm_ComputerSystem_class,
                      g_ptr_array_steal_index(items, 0), &err);
    g_assert_no_error(err);
    b = wmi_typed_new(&Msvm_ComputerSystem_class,
                      g_ptr_array_steal_index(items, 0), &err);
    g_assert_no_error(err);

    g_assert_cmpstr(a->ElementName, ==, "web1");
    g_assert_cmpuint(a->ProcessID, ==, 4242);
    g_assert_null(a->StatusDescriptions);
    g_assert_true(wmi_object_is_nil(a->object, "EnhancedSessionModeState"));
    g_assert_nonnull(a->InstallDate); /* no fraction */
    g_assert_cmpint(g_date_time_get_second(a->InstallDate), ==, 12);
    g_assert_cmpint(g_date_time_get_microsecond(a->TimeOfLastStateChange), ==,
                    123456); /* 7 digits */
    g_assert_cmpint(g_date_time_get_microsecond(b->TimeOfLastStateChange), ==,
                    123000); /* 3 digits */
    g_assert_null(b->InstallDate);
    g_assert_cmpuint(b->ProcessID, ==, 0);
    g_assert_true(wmi_object_is_nil(b->object, "ProcessID"));
    g_assert_cmpuint(b->EnabledState, ==, MSVM_ENABLED_STATE_DISABLED);
    xmlFreeDoc(doc);
}

static void
test_parse_arrays_and_wide_numbers(void)
{
    GError *err = NULL;
    xmlDoc *doc = parse_file("enumerate-context.xml", &err);
    g_autoptr(GPtrArray) items =
        items_of(doc, WSMAN_NS_WSMAN, "EnumerateResponse");
    g_autoptr(Msvm_ComputerSystem) vm = wmi_typed_new(
        &Msvm_ComputerSystem_class, g_ptr_array_steal_index(items, 0), &err);

    g_assert_no_error(err);
    g_assert_cmpstr(vm->ElementName, ==, "web1");
    g_assert_cmpuint(vm->EnabledState, ==, MSVM_ENABLED_STATE_ENABLED);
    g_assert_cmpuint(vm->OperationalStatus->len, ==, 2);
    g_assert_cmpuint(g_array_index(vm->OperationalStatus, guint16, 1), ==,
                     32772);
    g_assert_cmpuint(vm->OnTimeInMilliseconds, ==, 123456789012ULL);
    xmlFreeDoc(doc);
}

static void
test_parse_job(void)
{
    GError *err = NULL;
    xmlDoc *doc = parse_file("job-running-30.xml", &err);
    xmlNode *inst = wsman_child(wsman_body(doc), NULL, "Msvm_ConcreteJob");
    g_autoptr(Msvm_ConcreteJob) job = wmi_typed_new(
        &Msvm_ConcreteJob_class, wsman_parse_instance(inst), &err);

    g_assert_no_error(err);
    g_assert_cmpuint(job->JobState, ==, MSVM_JOB_STATE_RUNNING);
    g_assert_cmpuint(job->PercentComplete, ==, 30);
    g_assert_cmpuint(job->JobType, ==, MSVM_JOB_TYPE_SNAPSHOT);
    g_assert_true(job->Cancellable);
    g_assert_cmpint(job->ElapsedTime, ==, 100500000);
    g_assert_cmpint(job->TimeBeforeRemoval, ==, 5 * G_TIME_SPAN_MINUTE);
    g_assert_cmpstr(job->StatusDescriptions[0], ==, "OK");
    g_assert_null(job->StatusDescriptions[1]);
    xmlFreeDoc(doc);
}

static void
test_parse_invoke_output(void)
{
    g_autoptr(WmiObject) obj =
        output_of("invoke-createsnapshot-job.xml", "CreateSnapshot_OUTPUT");
    const WmiEpr *job = wmi_object_epr(obj, "Job");

    g_assert_cmpstr(wmi_object_text(obj, "ReturnValue"), ==, "4096");
    g_assert_nonnull(job);
    g_assert_cmpstr(job->class_name, ==, "Msvm_ConcreteJob");
    g_assert_cmpstr(wmi_epr_get_selector(job, "instanceid"), ==,
                    "2A4F3F0B-9E71-4F5C-A1B2-C3D4E5F60718");
    g_assert_true(wmi_object_is_nil(obj, "ResultingSnapshot"));
}

static void
test_parse_embedded_instance(void)
{
    GError *err = NULL;
    g_autoptr(WmiObject) obj =
        output_of("invoke-gethdd.xml", "GetVirtualHardDiskSettingData_OUTPUT");
    g_autoptr(Msvm_VirtualHardDiskSettingData) hd = NULL;
    g_autoptr(GDateTime) want = g_date_time_new_utc(2024, 5, 1, 9, 11, 12);
    WmiObject *inner;

    g_assert_no_error(err);
    inner = wmi_object_from_cimxml(wmi_object_text(obj, "SettingData"), &err);
    g_assert_no_error(err);
    g_assert_cmpstr(inner->class_name, ==, "Msvm_VirtualHardDiskSettingData");
    hd = wmi_typed_new(&Msvm_VirtualHardDiskSettingData_class, inner, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(hd->Type, ==, MSVM_VHD_TYPE_DIFFERENCING);
    g_assert_cmpuint(hd->Format, ==, MSVM_VHD_FORMAT_VHDX);
    g_assert_cmpuint(hd->MaxInternalSize, ==, 40ULL << 30);
    g_assert_cmpuint(hd->BlockSize, ==, 2 << 20);
    g_assert_cmpstr(hd->ParentPath, ==, "C:\\VMs\\web1\\web1.vhdx");
    g_assert_null(hd->VirtualDiskId);
    g_assert_true(wmi_object_is_nil(hd->object, "VirtualDiskId"));
    /* DMTF datetime, +060 minutes */
    g_assert_cmpint(g_date_time_to_unix(hd->ParentTimestamp), ==,
                    g_date_time_to_unix(want));
    g_assert_true(wmi_object_is_nil(obj, "Job"));
}

static void
test_parse_get_error_ex(void)
{
    GError *err = NULL;
    g_autoptr(WmiObject) obj =
        output_of("invoke-geterrorex.xml", "GetErrorEx_OUTPUT");
    g_autoptr(Msvm_Error) e = NULL;

    g_assert_no_error(err);
    e = wmi_typed_new(
        &Msvm_Error_class,
        wmi_object_from_cimxml(wmi_object_text(obj, "Errors"), &err), &err);
    g_assert_no_error(err);
    g_assert_nonnull(strstr(e->Message, "Volume Shadow Copy"));
    g_assert_cmpuint(g_strv_length(e->MessageArguments), ==, 2);
    g_assert_cmpuint(e->PerceivedSeverity, ==, 7);
}

typedef struct {
    const char *file;
    HvErrorCode code;
    const char *words[3];
} FaultCase;

static const FaultCase faults[] = {
    { "fault-wsmanfault.xml",
      HV_ERROR_FAULT,
      { "w:SchemaValidationError", "XML is invalid", "0x80338041" } },
    { "fault-wmierror.xml",
      HV_ERROR_FAULT,
      { "w:InternalError", "HRESULT 0x8033801a", "(0x8033801a)" } },
    { "fault-notfound.xml",
      HV_ERROR_NOT_FOUND,
      { "w:InvalidSelectors", "object was not found", "0x80338000" } },
    { "fault-destination-unreachable.xml",
      HV_ERROR_NOT_FOUND,
      { "a:DestinationUnreachable", "No instance of Msvm_ComputerSystem",
        "(0x80338000)" } },
    { "fault-mustunderstand.xml",
      HV_ERROR_FAULT,
      { "s:MustUnderstand", "mustUnderstand", NULL } },
    { "fault-encodinglimit.xml",
      HV_ERROR_FAULT,
      { "w:EncodingLimit", "encoding limit", "(0x80338035)" } },
    { "fault-unsupportedfeature.xml",
      HV_ERROR_FAULT,
      { "w:UnsupportedFeature", "does not support the specified feature",
        "(0x80338042)" } },
    { "not-soap.xml", HV_ERROR_PARSE, { "not a SOAP 1.2 envelope", NULL } },
};

static void
test_fault(gconstpointer data)
{
    const FaultCase *f = data;
    GError *err = NULL;
    xmlDoc *doc = parse_file(f->file, &err);

    g_assert_null(doc);
    g_assert_error(err, HV_ERROR, (gint) f->code);
    g_test_message("%s", err->message);
    g_assert_true(g_str_has_prefix(err->message, "hv01: "));
    for (gsize i = 0; i < G_N_ELEMENTS(f->words) && f->words[i]; i++)
        g_assert_nonnull(strstr(err->message, f->words[i]));
    g_error_free(err);
}

static void
test_bad_values(void)
{
    GError *err = NULL;
    WmiObject *obj = wmi_object_new("Msvm_ConcreteJob");

    wmi_object_add_text(obj, "JobState", "70000");
    g_assert_null(wmi_typed_new(&Msvm_ConcreteJob_class, obj, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_PARSE);
    g_assert_cmpstr(err->message, ==,
                    "Msvm_ConcreteJob.JobState: '70000' is not a valid uint16");
    g_clear_error(&err);

    obj = wmi_object_new("Msvm_ConcreteJob");
    wmi_object_add_text(obj, "Cancellable", "maybe");
    g_assert_null(wmi_typed_new(&Msvm_ConcreteJob_class, obj, &err));
    g_assert_nonnull(strstr(err->message, "Cancellable: 'maybe'"));
    g_clear_error(&err);

    g_assert_null(wmi_object_from_cimxml("<INSTANCE>", &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_PARSE);
    g_clear_error(&err);
}

/* A nil item of a string array (which the fuzzer sent) is left out and
 * the items after it are kept, not lost past the vector's end */
static void
test_nil_in_string_array(void)
{
    GError *err = NULL;
    WmiObject *obj = wmi_object_new("Msvm_VirtualSystemSettingData");
    Msvm_VirtualSystemSettingData *v;

    wmi_object_add_text(obj, "Notes", "first");
    wmi_object_set_nil(obj, "Notes");
    wmi_object_add_text(obj, "Notes", "");
    v = wmi_typed_new(&Msvm_VirtualSystemSettingData_class, obj, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(g_strv_length(v->Notes), ==, 2);
    g_assert_cmpstr(v->Notes[0], ==, "first");
    g_assert_cmpstr(v->Notes[1], ==, "");
    wmi_typed_free(v);
}

/* An EPR as embedded instances name an object, quotes and backslashes
 * escaped */
static void
test_epr_path(void)
{
    WmiEpr *e = wmi_epr_new_keyed("Msvm_VirtualSystemReferencePoint",
                                  "InstanceID", "Microsoft:A\\\"B",
                                  "VirtualSystemIdentifier", "guid", NULL);
    char *path;

    g_assert_cmpuint(e->selector_names->len, ==, 2);
    g_assert_cmpstr(wmi_epr_get_selector(e, "virtualsystemidentifier"), ==,
                    "guid");
    path = wmi_epr_path(e);
    g_assert_cmpstr(path, ==,
                    "root\\virtualization\\v2:Msvm_VirtualSystemReferencePoint."
                    "InstanceID=\"Microsoft:A\\\\\\\"B\","
                    "VirtualSystemIdentifier=\"guid\"");
    g_free(path);
}

static void
test_cimxml_roundtrip(void)
{
    g_autoptr(WmiObject) obj = wmi_object_new("Msvm_VirtualSystemSettingData");
    g_autoptr(WmiObject) back = NULL;
    g_autofree char *xml = NULL;
    GError *err = NULL;
    GPtrArray *notes;
    const char *tricky = "a <b> & \"c\" ]]> d";

    wmi_object_add_text(obj, "InstanceID", "Microsoft:ABC");
    wmi_object_add_text(obj, "ElementName", tricky);
    wmi_object_add_text(obj, "Notes", "one");
    wmi_object_add_text(obj, "Notes", "two");
    wmi_object_add_text(obj, "UserSnapshotType", "4");
    wmi_object_set_nil(obj, "Parent");
    xml = wmi_object_to_cimxml(obj);
    g_test_message("%s", xml);
    g_assert_nonnull(strstr(xml, "<PROPERTY.ARRAY NAME=\"Notes\" "
                                 "TYPE=\"string\"><VALUE.ARRAY>"));
    g_assert_nonnull(strstr(xml, "NAME=\"UserSnapshotType\" TYPE=\"uint16\""));
    g_assert_null(strstr(xml, "Parent"));
    back = wmi_object_from_cimxml(xml, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(wmi_object_text(back, "ElementName"), ==, tricky);
    notes = wmi_object_values(back, "Notes");
    g_assert_cmpuint(notes->len, ==, 2);
}

/* A typed struct sends what was given a value, in the schema's types */
static void
test_typed_to_instance(void)
{
    g_autoptr(Msvm_VirtualSystemSettingData) s =
        wmi_typed_alloc(&Msvm_VirtualSystemSettingData_class);
    g_autoptr(Msvm_VirtualSystemSnapshotSettingData) snap =
        wmi_typed_alloc(&Msvm_VirtualSystemSnapshotSettingData_class);
    g_autoptr(WmiObject) obj = NULL, back = NULL;
    g_autofree char *xml = NULL, *xml2 = NULL;
    g_autoptr(Msvm_VirtualSystemSettingData) typed = NULL;
    GError *err = NULL;

    WMI_TYPED_SET(s, InstanceID, g_strdup("Microsoft:ABC"));
    WMI_TYPED_SET(s, Notes, g_strsplit("one\ntwo", "\n", -1));
    WMI_TYPED_SET(s, UserSnapshotType, 3);
    WMI_TYPED_SET(s, IsSaved, FALSE);
    WMI_TYPED_SET(s, Parent, NULL);
    s->ElementName = g_strdup("not given"); /* set, never marked */
    obj = wmi_typed_to_object(s);
    g_assert_cmpstr(obj->class_name, ==, "Msvm_VirtualSystemSettingData");
    g_assert_cmpuint(obj->names->len, ==, 5);
    g_assert_null(wmi_object_values(obj, "ElementName"));
    g_assert_true(wmi_object_is_nil(obj, "Parent"));
    g_assert_cmpstr(wmi_object_text(obj, "IsSaved"), ==, "false");
    xml = wmi_object_to_cimxml(obj);
    g_test_message("%s", xml);
    g_assert_nonnull(strstr(xml, "NAME=\"UserSnapshotType\" TYPE=\"uint16\""));
    back = wmi_object_from_cimxml(xml, &err);
    g_assert_no_error(err);
    typed = wmi_typed_new(&Msvm_VirtualSystemSettingData_class,
                          g_steal_pointer(&back), &err);
    g_assert_no_error(err);
    g_assert_cmpstr(typed->InstanceID, ==, "Microsoft:ABC");
    g_assert_cmpstr(typed->Notes[1], ==, "two");
    g_assert_cmpuint(typed->UserSnapshotType, ==, 3);

    WMI_TYPED_SET(snap, ConsistencyLevel, 2);
    WMI_TYPED_SET(snap, IgnoreNonSnapshottableDisks, TRUE);
    g_clear_pointer(&obj, wmi_object_free);
    obj = wmi_typed_to_object(snap);
    xml2 = wmi_object_to_cimxml(obj);
    g_assert_nonnull(strstr(xml2, "NAME=\"ConsistencyLevel\" TYPE=\"uint8\">"
                                  "<VALUE>2</VALUE>"));
    g_assert_nonnull(strstr(xml2, "<VALUE>true</VALUE>"));
}

static void
test_wql_quote(void)
{
    g_autofree char *q = wmi_wql_quote("Microsoft:A\\B'C");
    g_assert_cmpstr(q, ==, "'Microsoft:A\\\\B\\'C'");
}

static void
test_datetime_forms(void)
{
    g_autoptr(GDateTime) a = wmi_parse_datetime("20240501101112.000001-120");
    g_autoptr(GDateTime) b = wmi_parse_datetime("not a date");
    g_autofree char *dmtf = NULL, *ival = NULL;
    GTimeSpan span = 0;

    g_assert_nonnull(a);
    g_assert_null(b);
    g_assert_cmpint(g_date_time_get_utc_offset(a), ==, -2 * G_TIME_SPAN_HOUR);
    dmtf = wmi_format_datetime_dmtf(a);
    g_assert_cmpstr(dmtf, ==, "20240501101112.000001-120");
    g_assert_true(wmi_parse_interval("00000000000500.000000:000", &span));
    g_assert_cmpint(span, ==, 5 * G_TIME_SPAN_MINUTE);
    ival = wmi_format_interval_dmtf(G_TIME_SPAN_DAY + 90 * G_TIME_SPAN_SECOND);
    g_assert_cmpstr(ival, ==, "00000001000130.000000:000");
    g_assert_true(wmi_parse_interval("P1DT2H", &span));
    g_assert_cmpint(span, ==, 26 * G_TIME_SPAN_HOUR);
    g_assert_false(wmi_parse_interval("P1Y", &span));
    g_assert_false(wmi_parse_interval("PT", &span));
}

/* A scripted server: each request takes the next reply. */

typedef struct {
    guint status;
    char *body;
    guint delay_ms;
    gboolean drop;
} Reply;

typedef struct {
    GThread *thread;
    GMainContext *ctx;
    GMainLoop *loop;
    SoupServer *server;
    GMutex lock;
    GCond ready;
    gboolean started;
    GQueue replies;
    GPtrArray *requests;
    char *expect_auth;
    GTlsCertificate *cert;
    char *url;
} Script;

static void
script_reply(Script *s, guint status, const char *file)
{
    Reply *r = g_new0(Reply, 1);
    r->status = status;
    r->body = file ? load(file) : g_strdup("");
    g_mutex_lock(&s->lock);
    g_queue_push_tail(&s->replies, r);
    g_mutex_unlock(&s->lock);
}

static void
script_special(Script *s, guint delay_ms, gboolean drop, const char *file)
{
    Reply *r = g_new0(Reply, 1);
    r->status = 200;
    r->body = file ? load(file) : g_strdup("");
    r->delay_ms = delay_ms;
    r->drop = drop;
    g_mutex_lock(&s->lock);
    g_queue_push_tail(&s->replies, r);
    g_mutex_unlock(&s->lock);
}

static void
handler(SoupServer *server, SoupServerMessage *msg, const char *path,
        GHashTable *query, gpointer data)
{
    Script *s = data;
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
    const char *auth = soup_message_headers_get_one(req, "Authorization");
    Reply *r;

    g_mutex_lock(&s->lock);
    g_ptr_array_add(s->requests, g_strndup(body->data, body->length));
    r = g_queue_pop_head(&s->replies);
    g_mutex_unlock(&s->lock);

    if (s->expect_auth && g_strcmp0(auth, s->expect_auth) != 0) {
        soup_message_headers_append(
            soup_server_message_get_response_headers(msg), "WWW-Authenticate",
            "Basic realm=\"WSMAN\"");
        soup_server_message_set_status(msg, 401, NULL);
        if (r) { /* the reply stays for the next try */
            g_mutex_lock(&s->lock);
            g_queue_push_head(&s->replies, r);
            g_mutex_unlock(&s->lock);
        }
        return;
    }
    if (!r) {
        soup_server_message_set_status(msg, 599, "no scripted reply");
        return;
    }
    if (r->delay_ms)
        g_usleep(r->delay_ms * 1000);
    if (r->drop) {
        GIOStream *io = soup_server_message_steal_connection(msg);
        g_io_stream_close(io, NULL, NULL);
        g_object_unref(io);
    } else {
        soup_server_message_set_status(msg, r->status, NULL);
        soup_server_message_set_response(
            msg, "application/soap+xml;charset=UTF-8", SOUP_MEMORY_COPY,
            r->body, strlen(r->body));
    }
    g_free(r->body);
    g_free(r);
}

static gpointer
server_thread(gpointer data)
{
    Script *s = data;
    GError *err = NULL;
    GSList *uris;

    g_main_context_push_thread_default(s->ctx);
    s->server = soup_server_new("tls-certificate", s->cert, NULL);
    soup_server_add_handler(s->server, "/wsman", handler, s, NULL);
    soup_server_listen_local(s->server, 0,
                             SOUP_SERVER_LISTEN_IPV4_ONLY |
                                 (s->cert ? SOUP_SERVER_LISTEN_HTTPS : 0),
                             &err);
    g_assert_no_error(err);
    uris = soup_server_get_uris(s->server);
    g_mutex_lock(&s->lock);
    s->url =
        g_strdup_printf("%s://localhost:%d/wsman", s->cert ? "https" : "http",
                        g_uri_get_port(uris->data));
    s->started = TRUE;
    g_cond_signal(&s->ready);
    g_mutex_unlock(&s->lock);
    g_slist_free_full(uris, (GDestroyNotify) g_uri_unref);
    g_main_loop_run(s->loop);
    g_object_unref(s->server);
    g_main_context_pop_thread_default(s->ctx);
    return NULL;
}

static Script *
script_new(GTlsCertificate *cert)
{
    Script *s = g_new0(Script, 1);
    g_mutex_init(&s->lock);
    g_cond_init(&s->ready);
    g_queue_init(&s->replies);
    s->requests = g_ptr_array_new_with_free_func(g_free);
    s->cert = cert;
    s->ctx = g_main_context_new();
    s->loop = g_main_loop_new(s->ctx, FALSE);
    s->thread = g_thread_new("scripted-wsman", server_thread, s);
    g_mutex_lock(&s->lock);
    while (!s->started)
        g_cond_wait(&s->ready, &s->lock);
    g_mutex_unlock(&s->lock);
    return s;
}

static gboolean
quit_loop(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static void
script_free(Script *s)
{
    Reply *r;
    GSource *src = g_idle_source_new();
    g_source_set_callback(src, quit_loop, s->loop, NULL);
    g_source_attach(src, s->ctx);
    g_source_unref(src);
    g_thread_join(s->thread);
    g_main_loop_unref(s->loop);
    g_main_context_unref(s->ctx);
    while ((r = g_queue_pop_head(&s->replies))) {
        g_free(r->body);
        g_free(r);
    }
    g_ptr_array_unref(s->requests);
    g_free(s->expect_auth);
    g_free(s->url);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->ready);
    g_free(s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Script, script_free)

static WsmanClient *
client_for(Script *s, guint timeout_ms)
{
    WsmanOptions o = { .url = s->url,
                       .user = "Administrator",
                       .password = "Pa$$w0rd",
                       .auth = WSMAN_AUTH_BASIC,
                       .allow_unencrypted = TRUE,
                       .timeout_ms = timeout_ms };
    GError *err = NULL;
    WsmanClient *c = wsman_client_new(&o, &err);
    g_assert_no_error(err);
    return c;
}

static const char *
request(Script *s, guint i)
{
    g_assert_cmpuint(i, <, s->requests->len);
    return s->requests->pdata[i];
}

static void
test_http_enumerate_pull(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = NULL;
    g_autoptr(GPtrArray) items = NULL;
    GError *err = NULL;

    script_reply(s, 200, "enumerate-context.xml");
    script_reply(s, 200, "pull-1.xml");
    script_reply(s, 200, "pull-2.xml");
    c = client_for(s, 5000);
    items =
        wsman_enumerate(c, "SELECT * FROM Msvm_ComputerSystem", FALSE, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(items->len, ==, 3);
    g_assert_cmpstr(wmi_object_text(items->pdata[2], "ElementName"), ==,
                    "mail1");
    g_assert_cmpuint(wsman_client_request_count(c), ==, 3);
    g_assert_cmpuint(wsman_client_connection_count(c), ==, 1); /* kept alive */
    g_assert_cmpuint(GPOINTER_TO_UINT(g_hash_table_lookup(
                         wsman_client_counters(c), "Pull Msvm_ComputerSystem")),
                     ==, 2);
    /* Windows demands the v2/\* URI with WQL, then Pull on the class */
    g_assert_nonnull(strstr(request(s, 0), "root/virtualization/v2/*</w:"
                                           "ResourceURI>"));
    g_assert_nonnull(strstr(request(s, 0), "<w:OptimizeEnumeration/>"));
    g_assert_nonnull(strstr(request(s, 0),
                            "Dialect=\"http://schemas.microsoft.com/wbem/wsman"
                            "/1/WQL\">SELECT * FROM Msvm_ComputerSystem<"));
    g_assert_nonnull(strstr(request(s, 1), "v2/Msvm_ComputerSystem</w:"));
    g_assert_nonnull(strstr(request(s, 1), "uuid:CTX-1"));
    /* the fresh context of each Pull is the one used next */
    g_assert_nonnull(strstr(request(s, 2), "uuid:CTX-2"));
    g_assert_null(strstr(request(s, 0), "Pa$$w0rd"));
}

static void
test_http_release_on_abort(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = NULL;
    GError *err = NULL;

    script_reply(s, 200, "enumerate-context.xml");
    script_reply(s, 200, "job-completed.xml"); /* not a PullResponse */
    script_reply(s, 200, NULL);
    c = client_for(s, 5000);
    g_assert_null(
        wsman_enumerate(c, "SELECT * FROM Msvm_ComputerSystem", FALSE, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_PARSE);
    g_clear_error(&err);
    g_assert_cmpuint(s->requests->len, ==, 3);
    g_assert_nonnull(strstr(request(s, 2), "enumeration/Release</a:Action>"));
    g_assert_nonnull(strstr(request(s, 2), "uuid:CTX-1"));
}

static void
test_http_epr_mode(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = NULL;
    g_autoptr(GPtrArray) eprs = NULL;
    GError *err = NULL;
    WmiEpr *svc;

    script_reply(s, 200, "enumerate-epr.xml");
    c = client_for(s, 5000);
    eprs = wsman_enumerate(c, "SELECT * FROM Msvm_VirtualSystemSnapshotService",
                           TRUE, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(eprs->len, ==, 1);
    svc = eprs->pdata[0];
    g_assert_cmpstr(svc->class_name, ==, "Msvm_VirtualSystemSnapshotService");
    g_assert_cmpstr(wmi_epr_get_selector(svc, "SystemName"), ==, "HV01");
    g_assert_nonnull(
        strstr(request(s, 0), "<w:EnumerationMode>EnumerateEPR</w:"));
}

static void
test_http_basic_auth(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = NULL;
    g_autoptr(WsmanClient) bad = NULL;
    g_autoptr(WmiObject) obj = NULL;
    g_autoptr(WmiEpr) job = wmi_epr_new("Msvm_ConcreteJob");
    g_autofree char *b64 =
        g_base64_encode((const guchar *) "Administrator:Pa$$w0rd", 22);
    WsmanOptions o = { 0 };
    GError *err = NULL;

    s->expect_auth = g_strconcat("Basic ", b64, NULL);
    wmi_epr_add_selector(job, "InstanceID", "2A4F3F0B");
    script_reply(s, 200, "job-completed.xml");
    c = client_for(s, 5000);
    obj = wsman_get(c, job, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(wmi_object_text(obj, "JobState"), ==, "7");
    g_assert_nonnull(strstr(request(s, 0), "transfer/Get</a:Action>"));
    g_assert_nonnull(
        strstr(request(s, 0), "<w:Selector Name=\"InstanceID\">2A4F3F0B<"));

    o.url = s->url;
    o.user = "Administrator";
    o.password = "wrong";
    o.auth = WSMAN_AUTH_BASIC;
    o.allow_unencrypted = TRUE;
    bad = wsman_client_new(&o, &err);
    g_assert_null(wsman_get(bad, job, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_AUTH);
    g_assert_nonnull(strstr(err->message, "HTTP 401"));
    g_assert_null(strstr(err->message, "wrong"));
    g_clear_error(&err);
}

static void
test_http_errors(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = NULL;
    g_autoptr(WmiEpr) epr = wmi_epr_new("Msvm_ComputerSystem");
    g_autoptr(WmiObject) obj = NULL;
    GError *err = NULL;

    wmi_epr_add_selector(epr, "Name", "nope");
    c = client_for(s, 400);

    script_reply(s, 500, "fault-notfound.xml");
    g_assert_null(wsman_get(c, epr, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_NOT_FOUND);
    g_clear_error(&err);

    script_reply(s, 403, NULL);
    g_assert_null(wsman_get(c, epr, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_FORBIDDEN);
    g_clear_error(&err);

    script_reply(s, 500, "not-soap.xml");
    g_assert_null(wsman_get(c, epr, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_HTTP);
    g_assert_nonnull(strstr(err->message, "HTTP status 500"));
    g_clear_error(&err);

    script_reply(s, 200, "not-soap.xml");
    g_assert_null(wsman_get(c, epr, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_PARSE);
    g_clear_error(&err);

    /* an answer a little after OperationTimeout (400 ms) is still taken:
     * the network's share */
    script_special(s, 450, FALSE, "job-completed.xml");
    obj = wsman_get(c, epr, &err);
    g_assert_no_error(err);
    g_clear_pointer(&obj, wmi_object_free);

    script_special(s, 1500, FALSE, "job-completed.xml");
    g_assert_null(wsman_get(c, epr, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_TIMEOUT);
    g_clear_error(&err);
    g_usleep(1200 * 1000); /* let the slow reply go by */

    script_special(s, 0, TRUE, NULL);
    g_assert_null(wsman_get(c, epr, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_CONNECTION);
    g_test_message("%s", err->message);
    g_clear_error(&err);

    /* and the client goes on working on a new connection */
    script_reply(s, 200, "job-completed.xml");
    obj = wsman_get(c, epr, &err);
    g_assert_no_error(err);
}

static void
test_http_size_limit(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = NULL;
    g_autoptr(WmiEpr) epr = wmi_epr_new("Msvm_ConcreteJob");
    WsmanOptions o = { 0 };
    GError *err = NULL;

    o.url = s->url;
    o.max_response = 1000;
    c = wsman_client_new(&o, &err);
    script_reply(s, 200, "job-completed.xml");
    g_assert_null(wsman_get(c, epr, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_TOO_LARGE);
    g_clear_error(&err);
}

static void
record_progress(guint percent, gpointer data)
{
    g_array_append_val((GArray *) data, percent);
}

static void
test_invoke_and_job(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = client_for(s, 5000);
    g_autoptr(WmiEpr) svc = wmi_epr_new("Msvm_VirtualSystemSnapshotService");
    g_autoptr(WmiEpr) vm = wmi_epr_new("Msvm_ComputerSystem");
    g_autoptr(WmiObject) settings =
        wmi_object_new("Msvm_VirtualSystemSnapshotSettingData");
    g_autoptr(WsmanParams) params = wsman_params_new();
    g_autoptr(WmiObject) out = NULL;
    g_autoptr(GArray) progress = g_array_new(FALSE, FALSE, sizeof(guint));
    g_autoptr(GPtrArray) affected = NULL;
    Msvm_ConcreteJob *job = NULL;
    HvJobWait wait = { .poll_min_ms = 1,
                       .progress = record_progress,
                       .progress_data = progress };
    GError *err = NULL;

    wmi_epr_add_selector(svc, "CreationClassName",
                         "Msvm_VirtualSystemSnapshotService");
    wmi_epr_add_selector(svc, "Name", "vssnapsvc");
    wmi_epr_add_selector(vm, "CreationClassName", "Msvm_ComputerSystem");
    wmi_epr_add_selector(vm, "Name", "4EA7033C-0D3A-4A4B-9F51-2E5B1B2C3D4E");
    wmi_object_add_text(settings, "ConsistencyLevel", "1");
    wmi_object_add_text(settings, "IgnoreNonSnapshottableDisks", "true");
    wsman_params_add_epr(params, "AffectedSystem", vm);
    wsman_params_add_instance(params, "SnapshotSettings", settings);
    wsman_params_add_uint(params, "SnapshotType", MSVM_SNAPSHOT_TYPE_FULL);

    script_reply(s, 200, "invoke-createsnapshot-job.xml");
    script_reply(s, 200, "job-running-30.xml");
    script_reply(s, 200, "job-running-60.xml");
    script_reply(s, 200, "job-completed.xml");
    script_reply(s, 200, "enumerate-optimized.xml");

    out = wsman_invoke(c, svc, "CreateSnapshot", params, &err);
    g_assert_no_error(err);
    g_assert_true(
        hv_method_result(c, "CreateSnapshot", out, &wait, &job, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(job->JobState, ==, MSVM_JOB_STATE_COMPLETED);
    g_assert_cmpuint(progress->len, ==, 3);
    g_assert_cmpuint(g_array_index(progress, guint, 0), ==, 30);
    g_assert_cmpuint(g_array_index(progress, guint, 2), ==, 100);

    affected =
        hv_job_affected(c, job, &Msvm_VirtualSystemSettingData_class, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(affected->len, ==, 2);
    wmi_typed_free(job);

    /* what went on the wire */
    g_assert_nonnull(strstr(request(s, 0),
                            "v2/Msvm_VirtualSystemSnapshotService/"
                            "CreateSnapshot</a:Action>"));
    g_assert_nonnull(strstr(
        request(s, 0), "<w:Selector Name=\"Name\">vssnapsvc</w:Selector>"));
    g_assert_nonnull(strstr(request(s, 0), "<p:CreateSnapshot_INPUT"));
    g_assert_nonnull(strstr(request(s, 0),
                            "<p:AffectedSystem><a:Address>http://schemas."
                            "xmlsoap.org/ws/2004/08/addressing/role/anonymous"
                            "</a:Address><a:ReferenceParameters><w:Resource"
                            "URI>"));
    g_assert_nonnull(strstr(request(s, 0),
                            "<p:SnapshotSettings><![CDATA[<INSTANCE CLASSNAME="
                            "\"Msvm_VirtualSystemSnapshotSettingData\"><PROPE"
                            "RTY NAME=\"ConsistencyLevel\" TYPE=\"uint8\">"));
    g_assert_nonnull(
        strstr(request(s, 0), "<p:SnapshotType>2</p:SnapshotType>"));
    g_assert_nonnull(strstr(request(s, 4),
                            "ASSOCIATORS OF {Msvm_ConcreteJob.InstanceID="
                            "'2A4F3F0B-9E71-4F5C-A1B2-C3D4E5F60718'} WHERE "
                            "AssocClass = Msvm_AffectedJobElement ResultClass "
                            "= Msvm_VirtualSystemSettingData"));
}

static void
test_invoke_checks_schema(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = client_for(s, 5000);
    g_autoptr(WmiEpr) svc = wmi_epr_new("Msvm_VirtualSystemSnapshotService");
    g_autoptr(WsmanParams) params = wsman_params_new();
    GError *err = NULL;

    g_assert_null(wsman_invoke(c, svc, "Frobnicate", NULL, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_INVALID);
    g_clear_error(&err);
    wsman_params_add_text(params, "Snapshotsettings", "");
    g_assert_null(wsman_invoke(c, svc, "CreateSnapshot", params, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_INVALID);
    g_assert_nonnull(
        strstr(err->message, "no input parameter Snapshotsettings"));
    g_clear_error(&err);
    g_assert_cmpuint(wsman_client_request_count(c), ==, 0);
}

static void
test_job_failure_text(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = client_for(s, 5000);
    g_autoptr(WmiObject) out =
        output_of("invoke-createsnapshot-job.xml", "CreateSnapshot_OUTPUT");
    HvJobWait wait = { .poll_min_ms = 1 };
    GError *err = NULL;

    script_reply(s, 200, "job-failed.xml");
    script_reply(s, 200, "invoke-geterrorex.xml");
    g_assert_false(
        hv_method_result(c, "CreateSnapshot", out, &wait, NULL, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_JOB_FAILED);
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, "'Snapshot virtual machine' ended "
                                          "Exception (error code 32768)"));
    g_assert_nonnull(strstr(err->message, "Production checkpoints cannot be "
                                          "created for 'web1'"));
    g_assert_nonnull(strstr(err->message, "Volume Shadow Copy writer"));
    g_assert_nonnull(strstr(request(s, 1), "Msvm_ConcreteJob/GetErrorEx<"));
    g_clear_error(&err);
}

static void
test_method_return_value(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = client_for(s, 5000);
    g_autoptr(WmiObject) out =
        output_of("invoke-returnvalue-32775.xml", "ApplySnapshot_OUTPUT");
    GError *err = NULL;

    g_assert_false(hv_method_result(c, "ApplySnapshot", out, NULL, NULL, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_METHOD);
    g_assert_nonnull(strstr(err->message, "ApplySnapshot failed with return "
                                          "value 32775 (Invalid state for "
                                          "this operation)"));
    g_clear_error(&err);
}

static void
test_job_cancel_and_timeout(void)
{
    g_autoptr(Script) s = script_new(NULL);
    g_autoptr(WsmanClient) c = client_for(s, 5000);
    g_autoptr(WmiObject) out =
        output_of("invoke-createsnapshot-job.xml", "CreateSnapshot_OUTPUT");
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    HvJobWait wait = { .poll_min_ms = 1, .cancellable = cancel };
    GError *err = NULL;

    g_cancellable_cancel(cancel);
    script_reply(s, 200, "job-running-30.xml");
    script_reply(s, 200, "invoke-returnvalue-32775.xml");
    g_assert_false(
        hv_method_result(c, "CreateSnapshot", out, &wait, NULL, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_CANCELLED);
    g_clear_error(&err);
    g_assert_nonnull(
        strstr(request(s, 1), "Msvm_ConcreteJob/RequestStateChange<"));
    g_assert_nonnull(
        strstr(request(s, 1), "<p:RequestedState>5</p:RequestedState>"));

    wait.cancellable = NULL;
    wait.timeout_ms = 200;
    wait.poll_min_ms = 20;
    for (int i = 0; i < 40; i++)
        script_reply(s, 200, "job-running-30.xml");
    g_assert_false(
        hv_method_result(c, "CreateSnapshot", out, &wait, NULL, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_TIMEOUT);
    g_assert_nonnull(strstr(err->message, "(30% done)"));
    g_clear_error(&err);
}

/* HTTPS, with a certificate made for the test */

static char *tls_dir;

static GTlsCertificate *
make_certificate(void)
{
    GError *err = NULL;
    g_autofree char *cert = NULL, *key = NULL;

    tls_dir = g_dir_make_tmp("wsman-tls-XXXXXX", &err);
    g_assert_no_error(err);
    test_tls_make_files(tls_dir, &cert, &key);
    return g_tls_certificate_new_from_files(cert, key, &err);
}

static void
test_https(void)
{
    g_autoptr(GTlsCertificate) cert = make_certificate();
    g_autoptr(Script) s = script_new(cert);
    g_autofree char *ca = g_build_filename(tls_dir, "cert.pem", NULL);
    g_autoptr(WmiEpr) epr = wmi_epr_new("Msvm_ConcreteJob");
    WsmanOptions o = { .url = s->url, .timeout_ms = 5000 };
    GError *err = NULL;
    WsmanClient *c;
    WmiObject *obj;

    g_assert_true(g_str_has_prefix(s->url, "https://"));
    /* verified against the system store: refused */
    c = wsman_client_new(&o, &err);
    g_assert_null(wsman_get(c, epr, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_TLS);
    g_test_message("%s", err->message);
    g_clear_error(&err);
    wsman_client_free(c);

    /* verified against the configured CA file */
    o.ca_file = ca;
    c = wsman_client_new(&o, &err);
    script_reply(s, 200, "job-completed.xml");
    obj = wsman_get(c, epr, &err);
    g_assert_no_error(err);
    wmi_object_free(obj);
    wsman_client_free(c);

    /* an explicit choice not to verify */
    o.ca_file = NULL;
    o.no_verify = TRUE;
    c = wsman_client_new(&o, &err);
    script_reply(s, 200, "job-completed.xml");
    obj = wsman_get(c, epr, &err);
    g_assert_no_error(err);
    wmi_object_free(obj);
    wsman_client_free(c);

    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", tls_dir);
    g_assert_cmpint(system(rm), ==, 0);
}

static void
test_bad_url(void)
{
    WsmanOptions o = { .url = "ftp://hv01/wsman" };
    GError *err = NULL;

    g_assert_null(wsman_client_new(&o, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_INVALID);
    g_clear_error(&err);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (g_getenv("WSMAN_DATA_DIR"))
        data_dir = g_getenv("WSMAN_DATA_DIR");

    g_test_add_func("/wsman/parse/enumerate-optimized",
                    test_parse_enumerate_optimized);
    g_test_add_func("/wsman/parse/one-page", test_parse_one_page);
    g_test_add_func("/wsman/parse/arrays-and-wide-numbers",
                    test_parse_arrays_and_wide_numbers);
    g_test_add_func("/wsman/parse/job", test_parse_job);
    g_test_add_func("/wsman/parse/invoke-output", test_parse_invoke_output);
    g_test_add_func("/wsman/parse/embedded-instance",
                    test_parse_embedded_instance);
    g_test_add_func("/wsman/parse/get-error-ex", test_parse_get_error_ex);
    for (gsize i = 0; i < G_N_ELEMENTS(faults); i++) {
        g_autofree char *p = g_strdup_printf("/wsman/fault/%s", faults[i].file);
        g_test_add_data_func(p, &faults[i], test_fault);
    }
    g_test_add_func("/wsman/parse/bad-values", test_bad_values);
    g_test_add_func("/wsman/epr/path", test_epr_path);
    g_test_add_func("/wsman/parse/nil-in-string-array",
                    test_nil_in_string_array);
    g_test_add_func("/wsman/cimxml/roundtrip", test_cimxml_roundtrip);
    g_test_add_func("/wsman/cimxml/typed", test_typed_to_instance);
    g_test_add_func("/wsman/wql/quote", test_wql_quote);
    g_test_add_func("/wsman/datetime/forms", test_datetime_forms);
    g_test_add_func("/wsman/http/enumerate-and-pull", test_http_enumerate_pull);
    g_test_add_func("/wsman/http/release-on-abort", test_http_release_on_abort);
    g_test_add_func("/wsman/http/epr-mode", test_http_epr_mode);
    g_test_add_func("/wsman/http/basic-auth", test_http_basic_auth);
    g_test_add_func("/wsman/http/errors", test_http_errors);
    g_test_add_func("/wsman/http/size-limit", test_http_size_limit);
    g_test_add_func("/wsman/http/bad-url", test_bad_url);
    g_test_add_func("/wsman/invoke/job-progress-affected", test_invoke_and_job);
    g_test_add_func("/wsman/invoke/checks-schema", test_invoke_checks_schema);
    g_test_add_func("/wsman/job/failure-text", test_job_failure_text);
    g_test_add_func("/wsman/job/return-value", test_method_return_value);
    g_test_add_func("/wsman/job/cancel-and-timeout",
                    test_job_cancel_and_timeout);
    g_test_add_func("/wsman/https/verify", test_https);
    return g_test_run();
}
