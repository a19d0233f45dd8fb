/* cmn_time.h — clocks */
#ifndef CMN_TIME_H
#define CMN_TIME_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: for deadlines and durations. */
uint64_t cmn_time_mono_ms(void);
/* Microseconds of CLOCK_MONOTONIC: for short durations (a sync). */
uint64_t cmn_time_mono_us(void);

/* Milliseconds since the Unix epoch: for records shown to operators. */
uint64_t cmn_time_wall_ms(void);

#endif
