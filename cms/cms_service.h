/* cms_service.h — obt-cms: Credential Management Service (this issue: records the
 * devices DOTS hands over and proves its own PSK session to each) */
#ifndef CMS_SERVICE_H
#define CMS_SERVICE_H

#include "cmn_svc.h"

/* The dispatcher given to cmn_svc_new. */
void
cms_service_dispatch(cmn_svc_t *svc, zframe_t *peer, const uint8_t *data, size_t len, void *arg);

/* 1 if the Request oneof case has a handler. */
int cms_service_has_handler(int body_case);

#endif
