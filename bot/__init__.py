"""WIN4UA applicant bot: composition root, settings, services and runners."""
