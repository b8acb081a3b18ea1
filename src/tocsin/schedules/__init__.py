"""On-call schedules: layers of rotations, restrictions, overrides, the final schedule, iCal."""
