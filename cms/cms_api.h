/* cms_api.h — obt-cms's own requests (obt.cms.Request): the CA and the certificates
 * it issued (obtctl ca show|export, obtctl certs) */
#ifndef CMS_API_H
#define CMS_API_H

#include "cmn_svc.h"

/* The core's own hook (cmn_svc_own_fn): arg is the cms_t. Unpacks, checks the
 * parties of the row (the operator reads) and answers with an obt.cms.Reply. */
void cms_api_on_request(cmn_svc_t *svc,
                        zframe_t *peer,
                        const cmn_caller_t *caller,
                        const uint8_t *data,
                        size_t len,
                        void *arg);
/* 1 if obt.cms.Request's body case has a row (the dispatch-table test). */
int cms_api_has_handler(int body_case);

#endif
