/* anomalyncd §5.6: the per-epoch schedules of training (the optimiser itself is ops.h's
 * sgd_update; which parameters get weight decay is the caller's choice, §11.34). */
#ifndef ANCD_NCD_SCHEDULE_H
#define ANCD_NCD_SCHEDULE_H

/* The distillation teacher's temperature at epoch (0-based): linspace(warmup_temp, final_temp,
 * warmup_epochs / repeat) with each value repeated `repeat` times, then final_temp (the reference's
 * defaults: 40, 4, 0.07, 0.04). -1 (ancd_errorf) when warmup_epochs is not a multiple of repeat
 * (§11.19: the reference's table is then too short), repeat < 1, or a negative epoch. */
int ncd_teacher_temp(double *temp, int epoch, int warmup_epochs, int repeat, double warmup_temp,
                     double final_temp);

/* Cosine annealing per epoch (torch CosineAnnealingLR, T_max = epochs, eta_min = lr * 1e-3):
 * eta_min + (lr - eta_min) (1 + cos(pi epoch / epochs)) / 2. epochs >= 1. */
double ncd_cosine_lr(double lr, int epoch, int epochs);

#endif
