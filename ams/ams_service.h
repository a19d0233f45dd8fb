/* ams_service.h — obt-ams: Access Management Service (this issue: cleans the ACL of
 * each handed-over device per clause 5.2, installs the baseline ACEs, moves it to
 * RFNOP) */
#ifndef AMS_SERVICE_H
#define AMS_SERVICE_H

#include "cmn_svc.h"

void
ams_service_dispatch(cmn_svc_t *svc, zframe_t *peer, const uint8_t *data, size_t len, void *arg);
int ams_service_has_handler(int body_case);

#endif
