/* cms_service.h — obt-cms: Credential Management Service (this issue: records the
 * devices DOTS hands over and proves its own PSK session to each) */
#ifndef CMS_SERVICE_H
#define CMS_SERVICE_H

#include "cmn_svc.h"

/* The work of CMS in the service core: hand-over and repair (cmn_svc.h). */
const cmn_svc_hooks_t *cms_service_hooks(void);

#endif
