"""Reading results.json for people: tables now; report.html and the recommendation later."""
