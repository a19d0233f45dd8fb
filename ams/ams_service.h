/* ams_service.h — obt-ams: Access Management Service (this issue: cleans the ACL of
 * each handed-over device per clause 5.2, installs the baseline ACEs, moves it to
 * RFNOP) */
#ifndef AMS_SERVICE_H
#define AMS_SERVICE_H

#include "cmn_svc.h"

/* The work of AMS in the service core: hand-over and repair (cmn_svc.h). */
const cmn_svc_hooks_t *ams_service_hooks(void);

#endif
