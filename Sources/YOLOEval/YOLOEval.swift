// Evaluation: mAP, comparison, reports.
