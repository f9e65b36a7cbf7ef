/*
 * sim-server.h: hypervsim's WS-Management endpoint
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <libsoup/soup.h>

#include "sim-host.h"

G_BEGIN_DECLS

typedef struct _SimServer SimServer;

/* Basic authentication when user is set; HTTPS when cert is set. */
SimServer *sim_server_new(SimHost *host, const char *user, const char *password,
                          GTlsCertificate *cert);
void sim_server_free(SimServer *srv);
/* What /wsman accepts (both, by default): Basic with the user given,
 * Negotiate (NTLM users from $NTLM_USER_FILE, Kerberos from keytab or
 * the system's); require_sealed: bodies over HTTP must come sealed and
 * Basic only over HTTPS, as WinRM with AllowUnencrypted = false */
void sim_server_set_auth(SimServer *srv, gboolean basic, gboolean negotiate,
                         gboolean require_sealed, const char *keytab);
SoupServer *sim_server_soup(SimServer *srv);
/* Requests served, all together and per "Action Class". */
guint64 sim_server_request_count(SimServer *srv);
GHashTable *sim_server_counters(SimServer *srv);

/* The next count requests to /wsman that match get a fault instead of an
 * answer: kind is "drop", "500", "malformed" or "delay" (the answer,
 * delay_ms late); action (Enumerate, Pull,
 * Get, Invoke), cls and method narrow the requests it is for (NULL: any).
 * after: the request is carried out first, and only its answer lost.
 * Called with the host's lock held, as every control operation is. */
gboolean sim_server_inject(SimServer *srv, const char *kind, guint count,
                           const char *action, const char *cls,
                           const char *method, gboolean after, guint delay_ms,
                           GError **error);
/* Forgets the faults not used yet (host lock held). */
void sim_server_clear_faults(SimServer *srv);
/* Every request to /wsman waits ms before it is served. */
void sim_server_set_latency(SimServer *srv, guint ms);

/* The JSON control interface (sim-control.c). */
void sim_control_handle(SimServer *srv, SimHost *host, SoupServerMessage *msg);

G_END_DECLS
