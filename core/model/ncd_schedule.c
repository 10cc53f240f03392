/* anomalyncd §5.6: teacher temperature staircase and cosine learning rate. */
#include "ncd_schedule.h"

#include <math.h>

#include "error.h"

int ncd_teacher_temp(double *temp, int epoch, int warmup_epochs, int repeat, double warmup_temp,
                     double final_temp) {
  if (repeat < 1 || warmup_epochs < 0 || warmup_epochs % repeat != 0)
    return ancd_errorf("teacher temperature: warmup of %d epochs is not a multiple of the "
                       "repeat %d (anomalyncd §11.19)",
                       warmup_epochs, repeat);
  if (epoch < 0)
    return ancd_errorf("teacher temperature: negative epoch %d", epoch);
  if (epoch >= warmup_epochs) {
    *temp = final_temp;
    return 0;
  }
  /* numpy.linspace: start + i * step, the last value exactly the stop. */
  int num = warmup_epochs / repeat, i = epoch / repeat;
  if (num == 1 || i < num - 1)
    *temp = num == 1 ? warmup_temp : i * ((final_temp - warmup_temp) / (num - 1)) + warmup_temp;
  else
    *temp = final_temp;
  return 0;
}

double ncd_cosine_lr(double lr, int epoch, int epochs) {
  double eta_min = lr * 1e-3;
  return eta_min + (lr - eta_min) * (1.0 + cos(M_PI * epoch / epochs)) / 2.0;
}
